"""The customer's own language: from the API to the email, the survey page, the status page
and the loop-closing email; Arabic right to left; one language per page."""

import re

import pytest
from django.core import mail
from django.utils import timezone

from accounts.mail import email_send_queued
from actions.models import Action
from actions.routing import response_route
from actions.services import action_close, loop_message_send
from surveys.models import Customer, Invitation
from surveys.sending import invitations_send_due
from tests.factories import make_customer, make_invitation, make_response, make_survey

pytestmark = pytest.mark.django_db

URL = "/api/v1/interactions"
# Straight from the question library (surveys.library), as an owner adds them.
LIBRARY = [
    ("yes_no", "Was what you needed in stock?", {}),
    ("rating", "How helpful were we?", {"low_label": "Not at all", "high_label": "Very"}),
]


@pytest.fixture
def survey(org):
    return make_survey(org, questions=LIBRARY)


def _post(api, locale, email="jo@example.com"):
    return api.post(
        URL,
        {"customer": {"email": email, "name": "Jo", "locale": locale}, "touchpoint": "repair"},
    )


def _send_now(api, locale, email="jo@example.com"):
    assert _post(api, locale, email).status_code == 201
    invitation = Invitation.objects.get(customer__email=email)
    Invitation.objects.filter(pk=invitation.pk).update(due_at=timezone.now())
    invitations_send_due(now=timezone.now() + timezone.timedelta(hours=2))
    invitation.refresh_from_db()
    return invitation


def _html_lang(html):
    return re.search(r"<html lang=\"([^\"]+)\" dir=\"([^\"]+)\"", html).groups()


def test_it_sends_a_french_invitation_to_a_customer_posted_with_locale_fr(api, touchpoint):
    invitation = _send_now(api, "fr")
    assert invitation.status == Invitation.Status.SENT
    [message] = mail.outbox
    assert (
        message.subject == f"Ce dont vous aviez besoin était-il en stock ? ({touchpoint.org.name})"
    )
    assert "Bonjour Jo," in message.body
    assert "Pourriez-vous nous dire comment cela s’est passé ?" in message.body
    assert "Hello" not in message.body
    assert message.extra_headers["Content-Language"] == "fr"
    html = message.alternatives[0].content
    assert _html_lang(html) == ("fr", "ltr")
    assert ">Oui</a>" in html and ">Non</a>" in html


def test_it_shows_the_survey_page_in_french_with_the_library_questions_translated(
    api, client, touchpoint
):
    invitation = _send_now(api, "fr-CA")
    page = client.get(f"/s/{invitation.token}/")
    html = page.content.decode()
    assert page["Content-Language"] == "fr"
    assert _html_lang(html) == ("fr", "ltr")
    assert "Ce dont vous aviez besoin était-il en stock ?" in html
    assert "Vous avons-nous été utiles ?" in html
    assert "1 = Pas du tout" in html
    assert "Envoyer mes réponses" in html
    assert "Send my answers" not in html


def test_it_writes_arabic_pages_and_emails_right_to_left(api, client, touchpoint):
    invitation = _send_now(api, "ar")
    html = mail.outbox[0].alternatives[0].content
    assert _html_lang(html) == ("ar", "rtl")
    page = client.get(f"/s/{invitation.token}/").content.decode()
    assert _html_lang(page) == ("ar", "rtl")
    assert "أرسل إجاباتي" in page


def test_it_refuses_a_locale_that_is_no_language_tag_with_a_400(api, touchpoint):
    response = _post(api, "klingon!")
    assert response.status_code == 400
    assert "BCP 47" in response.json()["errors"]["customer.locale"][0]
    assert not Customer.objects.exists()


def test_it_keeps_a_language_heard_lacks_and_uses_the_business_default(api, touchpoint, org):
    org.default_language = "de"
    org.save(update_fields=["default_language"])
    invitation = _send_now(api, "pt-BR")
    assert invitation.customer.locale == "pt-BR"
    assert "Hallo Jo," in mail.outbox[0].body


def test_it_switches_language_on_a_get_without_storing_it_until_the_customer_answers(
    client, touchpoint
):
    invitation = make_invitation(touchpoint, customer=make_customer(touchpoint.org))
    page = client.get(f"/s/{invitation.token}/?lang=es").content.decode()
    assert "Enviar mis respuestas" in page
    assert f'action="/s/{invitation.token}/?lang=es"' in page
    invitation.customer.refresh_from_db()
    assert invitation.customer.locale == ""
    question = invitation.survey_version.questions.first()
    client.post(f"/s/{invitation.token}/?lang=es", {f"q-{question.key}": "yes"})
    invitation.customer.refresh_from_db()
    assert invitation.customer.locale == "es"
    # Later pages use the stored language without the switch.
    assert "Gracias" in client.get(f"/s/{invitation.token}/thanks/").content.decode()


def test_it_shows_every_language_in_the_switch_on_a_customer_page(client, touchpoint):
    invitation = make_invitation(touchpoint)
    html = client.get(f"/s/{invitation.token}/").content.decode()
    for code in ("en", "fr", "de", "es", "ar"):
        assert f'hreflang="{code}"' in html


def test_it_shows_the_status_page_and_sends_the_loop_closing_email_in_french(
    client, touchpoint, owner
):
    customer = make_customer(touchpoint.org, name="Jo Martin")
    Customer.objects.filter(pk=customer.pk).update(locale="fr")
    invitation = make_invitation(touchpoint, customer=customer)
    response = make_response(invitation, answers={0: False}, verbatim="Rien en stock.")
    action = response_route(response_id=response.pk, now=timezone.now())
    assert action is not None
    page = client.get(f"/f/{invitation.token}/").content.decode()
    assert _html_lang(page)[0] == "fr"
    assert "Votre avis à" in page and "Reçu le" in page
    action_close(
        action=action,
        actor=owner,
        status=Action.Status.DONE,
        resolution="Commandé.",
        now=timezone.now(),
    )
    mail.outbox.clear()
    loop_message_send(
        action=action,
        actor=owner,
        subject="Vos chambres à air",
        body="Commandé.",
        now=timezone.now(),
    )
    email_send_queued(now=timezone.now())
    [message] = [m for m in mail.outbox if m.to == [customer.email]]
    assert "Bonjour Jo," in message.body
    assert "Est-ce que cela a réglé le problème ?" in message.body
    assert message.extra_headers["Content-Language"] == "fr"
    assert _html_lang(message.alternatives[0].content) == ("fr", "ltr")


def test_it_answers_a_public_link_in_the_browsers_language(client, touchpoint):
    page = client.get(f"/t/{touchpoint.public_code}/", HTTP_ACCEPT_LANGUAGE="de-AT,de;q=0.9")
    assert page["Content-Language"] == "de"
    assert "Accept-Language" in page["Vary"]
    assert "Wie waren wir?" in page.content.decode()


def test_it_shows_the_unknown_link_page_in_the_visitors_language(client, db):
    page = client.get("/s/nothing-here/", HTTP_ACCEPT_LANGUAGE="es")
    assert page.status_code == 404
    assert "No hemos encontrado esa encuesta." in page.content.decode()


def test_it_leaves_staff_screens_in_english(owner_client, api, touchpoint):
    _send_now(api, "fr")
    html = owner_client.get("/surveys/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert _html_lang(html) == ("en", "ltr")
