import pytest
from django.core import mail
from django.utils import timezone

from accounts.mail import email_send_queued
from actions.models import Action, ActionEvent, LoopMessage
from actions.services import action_close, action_note_add, loop_message_send
from tests.factories import make_customer
from tests.hostile import hostile_strings

STOCK = 0


@pytest.fixture
def action(routed, teammate, org):
    return routed(
        {STOCK: False},
        verbatim="No tubes in stock.",
        staff=teammate,
        customer=make_customer(org, name="Pat Jones"),
        consent=True,
    )


def token_of(action):
    return action.response.invitation.token


def close_and_tell(action, member, body="We ordered twenty more. Sam"):
    action_close(
        action=action,
        actor=member,
        status=Action.Status.DONE,
        resolution="Ordered twenty more.",
        now=timezone.now(),
    )
    return loop_message_send(
        action=action, actor=member, subject="Your tubes", body=body, now=timezone.now()
    )[0]


def test_it_shows_received_then_with_a_first_name_and_a_weekday(client, action, teammate):
    response = client.get(f"/f/{token_of(action)}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Received" in html and "With Bob, due" in html
    assert "No tubes in stock." in html


def test_it_never_shows_internal_notes_staff_emails_or_other_customers(
    client, action, teammate, routed, org
):
    action_note_add(
        action=action, actor=teammate, text="INTERNAL: customer is a pain", now=timezone.now()
    )
    other = routed(
        {STOCK: False},
        verbatim="OTHER CUSTOMER WORDS",
        customer=make_customer(org, email="other@example.com"),
    )
    from actions.services import action_merge

    action_merge(action=action, actor=teammate, other=other, now=timezone.now())
    html = client.get(f"/f/{token_of(action)}/").content.decode()
    for secret in (
        "INTERNAL",
        teammate.user.email,
        "Baker",
        "OTHER CUSTOMER WORDS",
        "other@example.com",
        action.customer.email,
    ):
        assert secret not in html


def test_it_shows_done_with_the_loop_message(client, action, teammate):
    close_and_tell(action, teammate)
    html = client.get(f"/f/{token_of(action)}/").content.decode()
    assert "Done" in html and "We ordered twenty more. Sam" in html
    assert f"/f/{token_of(action)}/sorted/" in html


def test_it_is_a_404_for_a_bad_token(client, db):
    for token in [*hostile_strings("tokens"), "x" * 80, "nope"]:
        if token:
            assert client.get(f"/f/{token}/").status_code == 404


def test_it_rejects_post_on_the_status_page(client, action):
    assert client.post(f"/f/{token_of(action)}/").status_code == 405


def test_a_get_changes_nothing(client, action, teammate):
    message = close_and_tell(action, teammate)
    before = ActionEvent.objects.count()
    client.get(f"/f/{token_of(action)}/")
    client.get(f"/f/{token_of(action)}/sorted/?answer=no")
    client.get(f"/f/{token_of(action)}/consent/")
    message.refresh_from_db()
    action.refresh_from_db()
    assert message.outcome == "" and not action.is_open
    assert action.response.consent_withdrawn_at is None
    assert ActionEvent.objects.count() == before


def test_the_customer_withdraws_consent_to_be_quoted(client, action):
    response = client.post(f"/f/{token_of(action)}/consent/")
    assert response.status_code == 200
    action.response.refresh_from_db()
    assert action.response.consent_withdrawn_at is not None
    assert not action.response.may_quote
    assert b"We won't quote your words" in response.content


def test_yes_records_the_answer_once(client, action, teammate):
    message = close_and_tell(action, teammate)
    page = client.get(f"/f/{token_of(action)}/sorted/?answer=yes")
    assert page.status_code == 200 and page.content.count(b'name="answer"') == 2
    client.post(f"/f/{token_of(action)}/sorted/", {"answer": "yes"})
    client.post(f"/f/{token_of(action)}/sorted/", {"answer": "no"})
    message.refresh_from_db()
    action.refresh_from_db()
    assert message.outcome == LoopMessage.Outcome.YES and not action.is_open


def test_no_reopens_the_action_with_the_customers_words_and_tells_the_owner(
    client, action, teammate
):
    close_and_tell(action, teammate)
    mail.outbox.clear()
    response = client.post(
        f"/f/{token_of(action)}/sorted/", {"answer": "no", "comment": "Still none in 26 inch."}
    )
    assert response.status_code == 200
    action.refresh_from_db()
    assert action.status == Action.Status.OPEN and action.reopened_count == 1
    assert action.closed_at is None and action.due_at > action.created_at
    reply = action.events.get(kind=ActionEvent.Kind.CUSTOMER_REPLY)
    assert "Still none in 26 inch." in reply.text
    assert action.events.filter(kind=ActionEvent.Kind.REOPENED).exists()
    action.customer.refresh_from_db()
    assert action.customer.survey_hold
    email_send_queued(now=timezone.now())
    email = next(m for m in mail.outbox if m.subject.startswith("Not sorted yet"))
    assert email.to == [teammate.user.email]
    assert "Still none in 26 inch." in email.body


def test_sorted_is_a_404_before_any_message_and_rejects_other_methods(client, action):
    assert client.get(f"/f/{token_of(action)}/sorted/").status_code == 404
    assert client.get("/f/nope/sorted/").status_code == 404
    assert client.put(f"/f/{token_of(action)}/sorted/").status_code == 405


def test_it_stores_a_hostile_comment_and_escapes_it(client, action, teammate, owner_client):
    close_and_tell(action, teammate)
    text = hostile_strings("markup")[0]
    client.post(f"/f/{token_of(action)}/sorted/", {"answer": "no", "comment": text})
    html = owner_client.get(f"/actions/{action.code}/").content.decode()
    assert text not in html and "&lt;script&gt;" in html


def test_the_page_for_a_response_with_no_action_says_it_was_read(client, respond):
    response = respond({STOCK: True})
    html = client.get(f"/f/{response.invitation.token}/").content.decode()
    assert "Read by the team" in html


def test_the_loop_composer_drafts_in_the_customers_language_and_says_so(
    teammate_client, teammate, routed, org
):
    customer = make_customer(org, name="Amélie Martin")
    customer.locale = "fr-FR"
    customer.save()
    action = routed({STOCK: False}, verbatim="Pas de chambres à air.", customer=customer)
    action_close(
        action=action,
        actor=teammate,
        status=Action.Status.DONE,
        resolution="Nous en avons commandé vingt.",
        now=timezone.now(),
    )
    page = teammate_client.get(f"/actions/{action.code}/tell/").content.decode()
    assert "Drafted in French" in page
    assert "Voici ce que nous avons fait : Nous en avons commandé vingt." in page
    assert "Votre avis à Alpha Bikes : ce que nous avons fait" in page
