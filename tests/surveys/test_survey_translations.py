"""Surveys per language: questions, labels, choices and the prompt written per language in the
builder, shown to each customer in theirs (else the default), answers stored in the default."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from surveys.models import Answer, Customer, Invitation, Question
from surveys.sending import invitations_send_due
from tests.factories import make_customer, make_invitation, make_survey, make_touchpoint

pytestmark = pytest.mark.django_db

PAY = ("choice", "How did you pay?", {"choices": ["Cash", "Card"]})
READY = ("yes_no", "Was your bike ready on time?", {})
FRENCH_PAY = {"fr": {"text": "Comment avez-vous payé ?", "choices": ["Espèces", "Carte"]}}


@pytest.fixture
def survey(org):
    survey = make_survey(org, questions=[PAY, READY])
    Question.objects.filter(text=PAY[1]).update(translations=FRENCH_PAY)
    return survey


@pytest.fixture
def touchpoint(org, survey):
    return make_touchpoint(org, slug="repair", name="Repair collected", survey=survey)


def _customer(org, locale, email=None):
    customer = make_customer(org, email=email, name="Jo Martin")
    Customer.objects.filter(pk=customer.pk).update(locale=locale)
    customer.locale = locale
    return customer


def test_it_shows_a_french_customer_the_french_question_and_stores_the_default_choice(
    org, touchpoint
):
    invitation = make_invitation(touchpoint, customer=_customer(org, "fr"))
    url = reverse("surveys:page", args=[invitation.token])
    page = Client().get(url)
    html = page.content.decode()
    assert page["Content-Language"] == "fr"
    assert "Comment avez-vous payé ?" in html
    assert "How did you pay?" not in html
    assert "<span>Espèces</span>" in html and "<span>Carte</span>" in html
    # The value each option posts is the default-language choice.
    assert 'value="Card"' in html and 'value="Carte"' not in html

    question = Question.objects.get(text=PAY[1])
    answered = Client().post(url, {"q": str(question.key), "a": "Card"})
    assert answered.status_code < 400
    assert Answer.objects.get(question=question).choice == "Card"
    # A translated label is not an answer.
    refused = Client().post(url, {"q": str(question.key), "a": "Carte"})
    assert refused.status_code == 400
    assert Answer.objects.get(question=question).choice == "Card"


def test_it_emails_a_french_customer_the_french_question_with_default_values_in_links(
    org, touchpoint
):
    make_invitation(
        touchpoint,
        customer=_customer(org, "fr-CA"),
        status=Invitation.Status.SCHEDULED,
        sent_at=None,
        survey_version=None,
        due_at=timezone.now() - timedelta(minutes=1),
        occurred_at=timezone.now() - timedelta(hours=1),
    )
    assert invitations_send_due(now=timezone.now()) == 1
    [message] = mail.outbox
    assert message.subject.startswith("Comment avez-vous payé ?")
    assert "Espèces:" in message.body and "Carte:" in message.body
    assert "How did you pay?" not in message.body
    assert "a=Card" in message.body and "a=Carte" not in message.body


def test_it_falls_back_to_the_default_text_where_french_is_missing(org, touchpoint):
    Question.objects.filter(text=PAY[1]).update(translations={"fr": {"choices": ["Espèces"]}})
    invitation = make_invitation(touchpoint, customer=_customer(org, "fr"))
    html = Client().get(reverse("surveys:page", args=[invitation.token])).content.decode()
    assert "How did you pay?" in html  # no French text written: the default's
    assert "<span>Espèces</span>" in html and "<span>Card</span>" in html
    assert "Was your bike ready on time?" in html  # the owner's own words, as written
    assert "<span>Oui</span>" in html  # Yes/No still come from the catalogues


def test_it_keeps_library_questions_translated_by_the_catalogues(org):
    survey = make_survey(org, questions=[("yes_no", "Was what you needed in stock?", {})])
    [question] = survey.current_version().questions.all()
    assert question.in_language("fr")["text"] == "Ce dont vous aviez besoin était-il en stock ?"
    question.translations = {"fr": {"text": "Aviez-vous tout ?"}}
    assert question.in_language("fr")["text"] == "Aviez-vous tout ?"
    assert question.in_language("de")["text"] != "Aviez-vous tout ?"


def _badge(html, code):
    found = re.search(rf'data-language="{code}" data-complete="(yes|no)"', html)
    return found and found.group(1)


def test_it_shows_which_languages_are_complete_in_the_builder(owner_client, survey):
    url = reverse("surveys:survey", args=[survey.code])
    html = owner_client.get(url).content.decode()
    assert _badge(html, "fr") == "no"  # the yes/no question is the owner's own, unwritten
    assert _badge(html, "en") is None  # the default language has no badge
    preview = reverse("surveys:preview", args=[survey.code])
    assert f'href="{preview}?lang=fr"' in html

    Question.objects.filter(text=READY[1]).update(
        translations={"fr": {"text": "Votre vélo était-il prêt à temps ?"}}
    )
    html = owner_client.get(url).content.decode()
    assert _badge(html, "fr") == "yes"
    assert _badge(html, "de") == "no"


def test_it_previews_the_survey_in_a_language(owner_client, survey):
    page = owner_client.get(reverse("surveys:preview", args=[survey.code]) + "?lang=fr")
    assert page["Content-Language"] == "fr"
    assert "Comment avez-vous payé ?" in page.content.decode()


def test_it_counts_invitations_sent_to_languages_the_survey_lacks(owner_client, org, touchpoint):
    for n in range(2):
        make_invitation(touchpoint, customer=_customer(org, "fr", f"fr{n}@example.com"))
    make_invitation(touchpoint, customer=_customer(org, "de", "de@example.com"))
    make_invitation(touchpoint, customer=_customer(org, "en", "en@example.com"))
    make_invitation(touchpoint, customer=_customer(org, "pt-BR", "pt@example.com"))
    long_ago = timezone.now() - timedelta(days=40)
    make_invitation(
        touchpoint,
        customer=_customer(org, "fr", "old@example.com"),
        occurred_at=long_ago,
    )
    html = owner_client.get(reverse("surveys:invitations")).content.decode()
    assert "2 sent in English because the survey has no Français version" in html
    assert "1 sent in English because the survey has no Deutsch version" in html

    Question.objects.filter(text=READY[1]).update(
        translations={"fr": {"text": "Votre vélo était-il prêt à temps ?"}}
    )
    html = owner_client.get(reverse("surveys:invitations")).content.decode()
    assert "no Français version" not in html
    assert "1 sent in English because the survey has no Deutsch version" in html


def _edit_data(question, **extra):
    prefix = str(question.key)
    data = {
        f"{prefix}-kind": question.kind,
        f"{prefix}-text": question.text,
        f"{prefix}-choices_text": "\n".join(question.choices),
        f"{prefix}-low_label": "",
        f"{prefix}-high_label": "",
    }
    data.update({f"{prefix}-{name}": value for name, value in extra.items()})
    return data


def test_it_saves_translations_from_the_owners_edit_form_and_keeps_them_on_new_versions(
    owner_client, org, survey, touchpoint
):
    version = survey.current_version()
    ready = version.questions.get(text=READY[1])
    make_invitation(touchpoint)  # the version is in use: an edit makes a new one
    url = reverse("surveys:question_edit", args=[survey.code, ready.key])
    form = owner_client.get(reverse("surveys:survey", args=[survey.code])).content.decode()
    assert f'name="{ready.key}-fr_text"' in form
    assert f'name="{ready.key}-en_text"' not in form

    answer = owner_client.post(url, _edit_data(ready, fr_text="Prêt à temps ?", de_text=" "))
    assert answer.status_code == 302
    fresh = survey.current_version()
    assert fresh.pk != version.pk
    assert fresh.questions.get(key=ready.key).translations == {"fr": {"text": "Prêt à temps ?"}}
    # The other question's French came along to the new version.
    assert fresh.questions.get(text=PAY[1]).translations == FRENCH_PAY


def test_it_refuses_more_translated_options_than_there_are_options(owner_client, survey):
    pay = survey.current_version().questions.get(text=PAY[1])
    url = reverse("surveys:question_edit", args=[survey.code, pay.key])
    answer = owner_client.post(url, _edit_data(pay, fr_choices_text="Espèces\nCarte\nChèque"))
    assert answer.status_code == 400
    pay.refresh_from_db()
    assert pay.translations == FRENCH_PAY


def test_it_lets_only_owners_edit_translations(teammate_client, survey):
    ready = survey.current_version().questions.get(text=READY[1])
    url = reverse("surveys:question_edit", args=[survey.code, ready.key])
    answer = teammate_client.post(url, _edit_data(ready, fr_text="Piraté"))
    assert answer.status_code == 403
    ready.refresh_from_db()
    assert ready.translations == {}
