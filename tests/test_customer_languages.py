"""The customer's language reaches the last customer-facing corners: the "Is it still
sorted?" follow-up, the review offer, the business's public privacy page and the printed QR
poster; and the staff screens' chrome is marked but stays English."""

import html
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation

from accounts.mail import email_build
from accounts.models import OutgoingEmail
from actions.followups import follow_ups_send_due
from actions.models import Action, LoopMessage
from actions.reviews import review_offers_send_due
from actions.routing import response_route
from actions.services import action_close, loop_message_send, loop_outcome_record
from surveys import public
from surveys.models import MAX_TEXT, Customer
from tests.factories import (
    make_customer,
    make_invitation,
    make_response,
    make_survey,
    make_touchpoint,
)

pytestmark = pytest.mark.django_db


def _html_lang(html):
    return re.search(r"<html lang=\"([^\"]+)\" dir=\"([^\"]+)\"", html).groups()


@pytest.fixture
def told_yes(org, owner):
    """told_yes(locale) -> a loop message its customer (reading ``locale``) answered Yes to."""
    org.review_url = "https://g.page/r/alpha-bikes/review"
    org.save()
    touchpoint = make_touchpoint(org, default_owner=owner, stay_fixed_weeks=4)

    def tell(locale):
        customer = make_customer(org, name="Jo Martin")
        Customer.objects.filter(pk=customer.pk).update(locale=locale)
        invitation = make_invitation(touchpoint, customer=customer)
        response = make_response(invitation, answers={0: False}, verbatim="Rien en stock.")
        now = timezone.now()
        action = response_route(response_id=response.pk, now=now)
        action_close(
            action=action, actor=owner, status=Action.Status.DONE, resolution="Fait.", now=now
        )
        [message] = loop_message_send(
            action=action, actor=owner, subject="Vos pneus", body="Commandés.", now=now
        )
        loop_outcome_record(message=message, outcome=LoopMessage.Outcome.YES, now=now)
        return message

    return tell


def test_the_stay_fixed_question_is_asked_in_the_customers_language(told_yes):
    message = told_yes("fr")
    follow_ups_send_due(now=message.follow_up.due_at + timedelta(minutes=1))
    email = OutgoingEmail.objects.get(kind="follow_up")
    assert email.subject == "Est-ce toujours réglé ? Une petite question de Alpha Bikes"
    assert email.body_text.startswith("Bonjour Jo,")
    assert "Il y a quelques semaines" in email.body_text
    assert "Oui: " in email.body_text
    assert email.headers["Content-Language"] == "fr"
    assert _html_lang(email.body_html) == ("fr", "ltr")


def test_the_review_offer_is_written_in_the_customers_language_right_to_left_in_arabic(
    told_yes,
):
    told_yes("ar")
    review_offers_send_due(now=timezone.now() + timedelta(days=1, minutes=1))
    email = OutgoingEmail.objects.get(kind="review_offer")
    assert email.subject == "هل تحكي للآخرين عن Alpha Bikes؟"
    assert "https://g.page/r/alpha-bikes/review" in email.body_text
    assert email.headers["Content-Language"] == "ar"
    assert _html_lang(email.body_html) == ("ar", "rtl")


def test_a_customer_without_a_language_gets_the_business_default(told_yes, org):
    org.default_language = "de"
    org.save()
    told_yes("")
    review_offers_send_due(now=timezone.now() + timedelta(days=1, minutes=1))
    email = OutgoingEmail.objects.get(kind="review_offer")
    assert email.subject == "Würden Sie anderen von Alpha Bikes erzählen?"
    assert email.headers["Content-Language"] == "de"


def test_the_privacy_page_speaks_the_language_its_link_carries_or_the_browsers(client, org):
    url = f"/privacy/?business={org.slug}"
    page = client.get(url + "&lang=fr")
    assert page["Content-Language"] == "fr"
    assert _html_lang(page.text) == ("fr", "ltr")
    assert "Ce que nous conservons" in page.text and "Vos données et Alpha Bikes" in page.text
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9")
    assert page["Content-Language"] == "es" and "Accept-Language" in page["Vary"]
    assert "Qué guardamos" in page.text
    # Its language switch, like every customer page's.
    for code in ("en", "fr", "de", "es", "ar"):
        assert f'hreflang="{code}"' in page.text
    assert "What we store" in client.get(url).text


def test_customer_pages_link_the_privacy_page_in_their_own_language(client, org, owner):
    customer = make_customer(org)
    Customer.objects.filter(pk=customer.pk).update(locale="de")
    invitation = make_invitation(make_touchpoint(org, default_owner=owner), customer=customer)
    page = client.get(f"/s/{invitation.token}/").text
    assert f"/privacy/?business={org.slug}&amp;lang=de" in page


def test_the_qr_poster_prints_in_the_business_default_or_the_chosen_language(
    owner_client, org, owner
):
    touchpoint = make_touchpoint(org, default_owner=owner)
    url = f"/surveys/touchpoints/{touchpoint.code}/poster/"
    english = owner_client.get(url)
    assert english["Content-Language"] == "en"
    assert "How did we do? Tell us in a minute." in english.text
    french = owner_client.get(url + "?lang=fr&size=a5")
    assert _html_lang(french.text) == ("fr", "ltr")
    assert "Dites-le-nous en une minute." in french.text and "poster-a5" in french.text
    arabic = owner_client.get(url + "?lang=ar")
    assert _html_lang(arabic.text) == ("ar", "rtl")
    # The toolbar above the sheet is the owner's, in the staff screens' language.
    assert "A4 instead" in french.text and "Print this page on A5" in french.text


def test_staff_screens_chrome_is_marked_and_stays_english(owner_client):
    html = owner_client.get("/inbox/", HTTP_ACCEPT_LANGUAGE="fr").text
    assert _html_lang(html) == ("en", "ltr")
    assert ">Inbox</a>" in html and ">Settings</a>" in html


def test_a_page_that_is_not_there_says_so_in_the_visitors_language(client):
    page = client.get("/no/such/page/", HTTP_ACCEPT_LANGUAGE="de")
    assert page.status_code == 404
    assert page["Content-Language"] == "de"
    assert "Seite nicht gefunden" in page.content.decode()
    assert "Page not found" in client.get("/no/such/page/").content.decode()
    # The API keeps its own JSON shape.
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and "errors" in api.json()


def test_a_form_sent_from_a_stale_page_gets_a_calm_page_in_the_visitors_language(org, owner):
    invitation = make_invitation(make_touchpoint(org, default_owner=owner))
    stale = Client(enforce_csrf_checks=True)
    page = stale.post(f"/s/{invitation.token}/", {}, HTTP_ACCEPT_LANGUAGE="ar")
    assert page.status_code == 403
    html = page.content.decode()
    assert _html_lang(html) == ("ar", "rtl")
    assert "بقيت هذه الصفحة مفتوحة وقتًا طويلًا" in html
    assert "CSRF" not in html


def test_a_tampered_answer_is_refused_in_the_customers_language(client, org, owner):
    customer = make_customer(org)
    Customer.objects.filter(pk=customer.pk).update(locale="es")
    invitation = make_invitation(make_touchpoint(org, default_owner=owner), customer=customer)
    question = invitation.survey_version.questions.first()
    url = f"/s/{invitation.token}/"
    fetch = {"HTTP_X_REQUESTED_WITH": "fetch"}
    answer = client.post(url, {"q": question.key, "a": "maybe"}, **fetch)
    assert answer.status_code == 400
    expected = {"yes_no": "Elija sí o no.", "rating": "Elija un número del 1 al 5."}
    assert answer.json()["error"] == expected.get(question.kind, "Elija una de las opciones.")
    answer = client.post(url, {"q": "no-such-question", "a": "yes"}, **fetch)
    assert answer.json()["error"] == "Esa pregunta no forma parte de esta encuesta."


def test_a_staff_email_set_off_by_a_customers_page_stays_english(org, owner):
    touchpoint = make_touchpoint(org, default_owner=owner)
    context = {"touchpoint": touchpoint, "cap": 50, "page": "https://heard.example/t/"}
    with translation.override("fr"):
        notice = email_build(
            key="cap",
            kind="public-cap",
            to="a@b.example",
            template="public-cap",
            org=org,
            context=context,
        )
        confirm = email_build(
            key="confirm",
            kind="public-confirm",
            to="c@d.example",
            template="public-confirm",
            org=org,
            context={"confirm_url": "https://heard.example/h/x/", "days": 7},
        )
    assert notice.body_text.startswith("Hello,")
    assert notice.headers["Content-Language"] == settings.LANGUAGE_CODE
    # The visitor's own confirmation is in the page's language.
    assert confirm.headers["Content-Language"] == "fr"


def test_the_public_page_refuses_in_the_visitors_language_with_its_numbers(client, org, owner):
    touchpoint = make_touchpoint(org, default_owner=owner)
    stamp = public.form_stamp(touchpoint=touchpoint, now=timezone.now() - timedelta(seconds=30))
    url = f"/t/{touchpoint.public_code}/"
    too_long = "a" * (MAX_TEXT + 1)
    page = client.post(
        url,
        {"stamp": stamp, "verbatim": too_long, "email": "not an address"},
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert page.status_code == 400
    text = html.unescape(page.content.decode())
    assert "Das sieht nicht wie eine E-Mail-Adresse aus." in text
    # The counts are written the German way.
    limit = f"{MAX_TEXT:,}".replace(",", ".")
    assert f"Das sind {f'{MAX_TEXT + 1:,}'.replace(',', '.')} Zeichen" in text
    assert f"die Grenze liegt bei {limit}." in text


def test_the_composer_previews_the_email_in_the_customers_language(owner_client, owner, org):
    touchpoint = make_touchpoint(org, default_owner=owner)
    customer = make_customer(org, name="Amira Haddad")
    Customer.objects.filter(pk=customer.pk).update(locale="ar")
    response = make_response(
        make_invitation(touchpoint, customer=customer), answers={0: False}, verbatim="لا يوجد"
    )
    now = timezone.now()
    action = response_route(response_id=response.pk, now=now)
    action_close(action=action, actor=owner, status=Action.Status.DONE, resolution="تم.", now=now)
    page = owner_client.post(
        f"/actions/{action.code}/tell/",
        {"subject": "طلبك", "body": "طلبنا المزيد.", "preview": "1"},
    ).content.decode()
    preview = page[page.index('class="message-preview"') :]
    assert 'lang="ar" dir="rtl"' in preview[:120]
    assert "مرحبًا Amira،" in preview and "هل حلّ هذا المشكلة؟" in preview
    assert "Did this sort it out?" not in preview
    # The staff screen around it stays English.
    assert "Drafted in Arabic" in page


def test_the_owner_previews_the_survey_email_in_each_language(owner_client, org):
    survey = make_survey(org, questions=[("yes_no", "Was what you needed in stock?", {})])
    base = f"/surveys/{survey.code}/preview/email"
    page = owner_client.get(base + "/?lang=es")
    assert page.status_code == 200
    assert 'hreflang="ar"' in page.text and "/preview/email.html?lang=es" in page.text
    # The library question, as a Spanish customer reads it in the email.
    assert "¿Teníamos en stock lo que necesitaba?" in html.unescape(page.text)
    arabic = owner_client.get(base + ".html?lang=ar").content.decode()
    assert _html_lang(arabic) == ("ar", "rtl")
    english = owner_client.get(base + "/").text
    assert "Was what you needed in stock?" in english


def test_a_survey_preview_shows_the_customers_page_with_the_owners_banner(owner_client, org):
    survey = make_survey(org, questions=[("yes_no", "Was what you needed in stock?", {})])
    page = html.unescape(owner_client.get(f"/surveys/{survey.code}/preview/?lang=de").text)
    assert _html_lang(page) == ("de", "ltr")
    assert "War vorrätig, was Sie brauchten?" in page
    # The banner and the button's stand-in are the owner's, in English.
    assert "as a customer sees it. Nothing you do here is saved." in page
    assert "Back to the survey" in page and '"Send my answers" button goes here' in page


def test_the_privacy_page_says_what_no_fatigue_limit_means(client, org):
    org.fatigue_days = 0
    org.save()
    page = client.get(f"/privacy/?business={org.slug}&lang=fr").text
    assert "après chaque visite" in html.unescape(page)


def test_a_new_default_language_shows_on_the_cached_wall_at_once(client, org):
    org.wall_enabled = True
    org.save()
    url = f"/wall/{org.slug}/"
    assert _html_lang(client.get(url).text)[0] == "en"
    org.default_language = "es"
    org.save()
    assert _html_lang(client.get(url).text)[0] == "es"
    feed = client.get(url + "feed/").content.decode()
    assert 'xml:lang="es"' in feed
