"""Two requests changing the same action at once: each change is checked and applied to the
row as it is now (locked), never to the copy a page loaded earlier."""

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from accounts.models import OutgoingEmail
from actions.models import Action, ActionEvent, LoopMessage
from actions.services import (
    ActionError,
    action_close,
    action_deadline_change,
    action_status_set,
    loop_message_send,
)
from tests.factories import make_customer

STOCK = 0


@pytest.fixture
def action(routed, teammate, org):
    return routed(
        {STOCK: False},
        verbatim="No tubes.",
        staff=teammate,
        customer=make_customer(org, name="Pat Jones"),
    )


def _close(action, teammate):
    action_close(
        action=action,
        actor=teammate,
        status=Action.Status.DONE,
        resolution="Restocked.",
        now=timezone.now(),
    )


def test_a_status_change_from_a_stale_page_after_a_close_is_refused(action, teammate):
    stale = Action.objects.get(pk=action.pk)  # the page another member loaded before the close
    _close(action, teammate)
    with pytest.raises(ActionError, match="closed"):
        action_status_set(
            action=stale, actor=teammate, status=Action.Status.IN_PROGRESS, now=timezone.now()
        )
    action.refresh_from_db()
    assert action.status == Action.Status.DONE and action.closed_at is not None
    assert not action.events.filter(kind=ActionEvent.Kind.STATUS_CHANGED).exists()


def test_a_deadline_change_from_a_stale_page_after_a_close_is_refused(action, teammate):
    from datetime import timedelta

    stale = Action.objects.get(pk=action.pk)
    _close(action, teammate)
    with pytest.raises(ActionError, match="closed"):
        action_deadline_change(
            action=stale,
            actor=teammate,
            reason="Later.",
            due_at=action.due_at + timedelta(days=3),
            now=timezone.now(),
        )
    action.refresh_from_db()
    assert not action.events.filter(kind=ActionEvent.Kind.DEADLINE_CHANGED).exists()


def test_a_close_from_a_stale_page_works_from_the_row_and_updates_the_copy(action, teammate):
    stale = Action.objects.get(pk=action.pk)
    action_status_set(
        action=action, actor=teammate, status=Action.Status.WAITING, now=timezone.now()
    )
    _close(stale, teammate)  # the stale copy still says "open": the close reads the row
    assert stale.status == Action.Status.DONE and stale.paused_at is None
    assert stale.closed_by == teammate
    # The waiting time was credited from the row, which the stale copy didn't know about.
    assert stale.events.filter(kind=ActionEvent.Kind.DEADLINE_CHANGED).exists()


def test_the_status_view_after_a_close_says_so_and_changes_nothing(
    teammate_client, teammate, action
):
    _close(action, teammate)
    response = teammate_client.post(
        f"/actions/{action.code}/status/", {"status": "in_progress"}, follow=True
    )
    assert "This action is closed." in response.content.decode()
    action.refresh_from_db()
    assert action.status == Action.Status.DONE


def test_sending_the_loop_message_twice_tells_the_customer_once(action, teammate):
    _close(action, teammate)
    stale = Action.objects.get(pk=action.pk)
    first = loop_message_send(
        action=action, actor=teammate, subject="Tubes", body="Restocked.", now=timezone.now()
    )
    second = loop_message_send(
        action=stale, actor=teammate, subject="Tubes", body="Restocked.", now=timezone.now()
    )
    assert len(first) == 1 and second == []
    assert LoopMessage.objects.count() == 1
    email = OutgoingEmail.objects.get(kind="loop_message")
    closing = int(action.closed_at.timestamp() * 1_000_000)
    assert email.key == f"loop:{action.pk}:{action.response_id}:{closing}"


def test_a_double_click_on_send_tells_the_customer_once(teammate_client, teammate, action):
    _close(action, teammate)
    data = {"subject": "Tubes", "body": "Restocked.", "send": "1"}
    teammate_client.post(f"/actions/{action.code}/tell/", data)
    again = teammate_client.post(f"/actions/{action.code}/tell/", data, follow=True)
    assert again.status_code == 200
    assert OutgoingEmail.objects.filter(kind="loop_message").count() == 1


def _race(*targets):
    barrier = threading.Barrier(len(targets))
    results, errors = [], []

    def run(target):
        barrier.wait()
        try:
            results.append(target())
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_two_sends_racing_tell_the_customer_once(action, teammate):
    if connection.vendor != "postgresql":
        pytest.skip("Row locks are what is under test; CI runs it on PostgreSQL")
    _close(action, teammate)
    copies = [Action.objects.get(pk=action.pk) for _ in range(2)]
    results, errors = _race(
        *[
            lambda a=a: loop_message_send(
                action=a, actor=teammate, subject="Tubes", body="Done.", now=timezone.now()
            )
            for a in copies
        ]
    )
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 1]
    assert LoopMessage.objects.count() == 1
    assert OutgoingEmail.objects.filter(kind="loop_message").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_close_racing_a_status_change_never_leaves_a_closed_action_open(action, teammate):
    if connection.vendor != "postgresql":
        pytest.skip("Row locks are what is under test; CI runs it on PostgreSQL")
    for _ in range(5):
        Action.objects.filter(pk=action.pk).update(
            status=Action.Status.OPEN, closed_at=None, closed_by=None
        )
        closing, changing = (Action.objects.get(pk=action.pk) for _ in range(2))
        _, errors = _race(
            lambda a=closing: _close(a, teammate),
            lambda a=changing: action_status_set(
                action=a, actor=teammate, status=Action.Status.IN_PROGRESS, now=timezone.now()
            ),
        )
        assert all(isinstance(e, ActionError) for e in errors)
        action.refresh_from_db()
        assert action.status == Action.Status.DONE and action.closed_at is not None
