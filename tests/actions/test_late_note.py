"""The customer hears before a promise breaks: a moved deadline carries a reason for the
customer, their status page shows the date promised and every move, and a member's note
about the move reaches them once."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.mail import email_send_queued
from actions.models import Action, ActionEvent
from actions.notices import action_notices_sweep
from actions.services import action_deadline_change, action_status_set
from tests.factories import make_customer

STOCK = 0
OFFERED = 'id="late-note"'


@pytest.fixture
def action(routed, teammate, org):
    opened = routed(
        {STOCK: False},
        verbatim="The 26 inch tubes were out again.",
        staff=teammate,
        customer=make_customer(org, name="Pat Jones", email="pat@example.com"),
    )
    email_send_queued(now=timezone.now())  # the owner's "new action" email: out of the way
    mail.outbox.clear()
    return opened


def move(client, action, due="2099-03-02T10:00", customer_reason="the part is on back order"):
    return client.post(
        f"/actions/{action.code}/deadline/",
        {"due_at": due, "reason": "Supplier late.", "customer_reason": customer_reason},
    )


def late_note(client, action, **extra):
    change = action.events.filter(kind=ActionEvent.Kind.DEADLINE_CHANGED).latest("pk")
    data = {"change": change.pk, "subject": "A new date", "body": "We're running late.", **extra}
    return client.post(f"/actions/{action.code}/deadline/", data)


def notes_to(address):
    return [m for m in mail.outbox if m.to == [address] and m.subject == "A new date"]


def test_it_offers_an_editable_note_from_the_members_own_reason(teammate_client, action):
    assert move(teammate_client, action).status_code == 302
    page = teammate_client.get(f"/actions/{action.code}/")
    assert "Tell Pat J. about the new date" in page.text
    assert "We&#x27;re running late: the part is on back order; new date Monday 2 March" in (
        page.text
    )
    # A preview shows the edited words, and only then the send button; nothing is queued.
    preview = late_note(teammate_client, action, preview="1", body="Sorry: Monday now.")
    assert preview.status_code == 200
    assert "Sorry: Monday now." in preview.text and 'name="send"' in preview.text
    assert email_send_queued(now=timezone.now()) == 0 and not notes_to("pat@example.com")


def test_it_sends_the_late_note_once_for_a_double_submit_and_a_retry(teammate_client, action):
    move(teammate_client, action)
    first = late_note(teammate_client, action, send="1")
    second = late_note(teammate_client, action, send="1")  # the double submit
    assert first.status_code == second.status_code == 302
    email_send_queued(now=timezone.now())
    late_note(teammate_client, action, send="1")  # a retry after it went
    email_send_queued(now=timezone.now())
    [note] = notes_to("pat@example.com")
    assert "We're running late." in note.body and f"/f/{action.response.invitation.token}/" in (
        note.body
    )
    told = action.events.filter(kind=ActionEvent.Kind.EMAIL_OUT, data__has_key="late_note")
    assert told.count() == 1
    # Sent: the page no longer offers it.
    assert OFFERED not in teammate_client.get(f"/actions/{action.code}/").text


def test_a_second_move_may_be_told_once_too(teammate_client, action):
    move(teammate_client, action)
    late_note(teammate_client, action, send="1")
    move(teammate_client, action, due="2099-03-09T10:00", customer_reason="the supplier closed")
    late_note(teammate_client, action, send="1")
    late_note(teammate_client, action, send="1")
    email_send_queued(now=timezone.now())
    assert len(notes_to("pat@example.com")) == 2


def test_it_never_sends_a_note_without_a_persons_words(teammate_client, action):
    move(teammate_client, action)
    response = late_note(teammate_client, action, send="1", body="   ")
    assert response.status_code == 400
    assert email_send_queued(now=timezone.now()) == 0
    # A move with nothing for the customer offers no note at all.
    action_deadline_change(
        action=action,
        actor=action.owner,
        due_at=timezone.now() + timedelta(days=30),
        reason="Internal.",
        customer_reason="",
        now=timezone.now(),
    )
    assert OFFERED not in teammate_client.get(f"/actions/{action.code}/").text


def test_it_asks_no_customer_reason_when_the_customer_cannot_be_emailed(teammate_client, action):
    action.customer.opted_out_at = timezone.now()
    action.customer.save()
    response = move(teammate_client, action, customer_reason="")
    assert response.status_code == 302
    assert OFFERED not in teammate_client.get(f"/actions/{action.code}/").text


def test_the_status_page_lists_the_promised_date_and_each_move_with_its_reason(
    client, teammate_client, action, teammate
):
    first = action.first_due_at
    status = f"/f/{action.response.invitation.token}/"
    page = re.sub(r"\s+", " ", client.get(status).text)
    assert f"We promised you <strong>{first:%A} {first.day} {first:%B}</strong>" in page
    move(teammate_client, action)
    action.refresh_from_db()
    action_status_set(
        action=action, actor=teammate, status=Action.Status.WAITING, now=timezone.now()
    )
    action_status_set(action=action, actor=teammate, status=Action.Status.OPEN, now=timezone.now())
    page = re.sub(r"\s+", " ", client.get(status).text)
    assert f"We first promised you <strong>{first:%A} {first.day} {first:%B}</strong>" in page
    assert "the date moved to <strong>Monday 2 March</strong>: the part is on back order" in page
    assert "Supplier late." not in page  # the team's own reason stays in the team's history
    assert "We were waiting to hear from you" in page


def test_it_prompts_the_owner_to_write_when_the_deadline_nears_with_no_progress(
    teammate_client, action, teammate
):
    soon = action.reminder_due_at + timedelta(minutes=1)
    Action.objects.filter(pk=action.pk).update(reminder_due_at=timezone.now())
    page = teammate_client.get(f"/actions/{action.code}/").text
    assert "Write to Pat J. before the deadline" in page
    action_notices_sweep(now=soon)
    email_send_queued(now=timezone.now())
    [reminder] = [m for m in mail.outbox if m.subject.startswith("Reminder")]
    assert "write to Pat J. now, before the promise breaks" in reminder.body


def test_it_does_not_prompt_once_work_has_started(teammate_client, action, teammate):
    action_status_set(
        action=action, actor=teammate, status=Action.Status.IN_PROGRESS, now=timezone.now()
    )
    soon = action.reminder_due_at + timedelta(minutes=1)
    Action.objects.filter(pk=action.pk).update(reminder_due_at=timezone.now())
    assert "before the deadline" not in teammate_client.get(f"/actions/{action.code}/").text
    action_notices_sweep(now=soon)
    email_send_queued(now=timezone.now())
    [reminder] = [m for m in mail.outbox if m.subject.startswith("Reminder")]
    assert "before the promise breaks" not in reminder.body
