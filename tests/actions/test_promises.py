"""The rules every count of actions uses, each written once on Action/ActionQuerySet:
"overdue" (open with its clock running, past the deadline in force) and "a promise kept"
(done, not won't do, by the FIRST deadline; the deadline in force is a second, labelled
figure). ``closed_on_time`` is the other fact: closed by the deadline in force whatever the
outcome."""

from datetime import timedelta

import pytest

from actions.models import Action, LoopMessage, Promise
from actions.services import (
    action_close,
    action_deadline_change,
    action_merge,
    action_reopen,
    action_status_set,
    loop_message_send,
    loop_outcome_record,
)

from .conftest import WEDNESDAY_10AM

STOCK = 0
HOUR = timedelta(hours=1)


@pytest.fixture
def action(routed, owner):
    return routed({STOCK: False}, verbatim="Out of tubes again.", staff=owner, now=WEDNESDAY_10AM)


def close(action, owner, status, at):
    action_close(action=action, actor=owner, status=status, resolution="Sorted.", now=at)
    action.refresh_from_db()


def counts(action, at, against=Promise.FIRST):
    """(kept, counted) over a period from the action's opening to ``at``."""
    return Action.objects.filter(pk=action.pk).promise_counts(action.created_at, at, against)


def test_it_keeps_the_promise_when_done_by_the_deadline(action, owner):
    at = action.due_at - HOUR
    close(action, owner, Action.Status.DONE, at)
    assert action.kept_promise and action.closed_on_time
    assert counts(action, at + HOUR) == (1, 1)
    assert list(Action.objects.kept()) == [action]


def test_it_breaks_the_promise_when_done_late(action, owner):
    at = action.due_at + HOUR
    assert action.is_overdue(at) and Action.objects.overdue(at).get() == action
    close(action, owner, Action.Status.DONE, at)
    assert not action.kept_promise and not action.closed_on_time
    assert not action.is_overdue(at) and not Action.objects.overdue(at).exists()
    assert counts(action, at + HOUR) == (0, 1)


def test_it_counts_wont_do_as_closed_on_time_but_never_as_a_promise_kept(action, owner):
    at = action.due_at - HOUR
    close(action, owner, Action.Status.WONT_DO, at)
    # The difference the two names carry: closed by the deadline, but nothing was done.
    assert action.closed_on_time is True
    assert action.kept_promise is False
    assert counts(action, at + HOUR) == (0, 1) and not Action.objects.kept().exists()


def test_it_never_counts_an_action_waiting_on_the_customer_until_it_closes(action, owner):
    action_status_set(
        action=action, actor=owner, status=Action.Status.WAITING, now=action.due_at - HOUR
    )
    action.refresh_from_db()
    late = action.due_at + 5 * HOUR
    assert not action.is_overdue(late) and not Action.objects.overdue(late).exists()
    assert counts(action, late) == (0, 0)
    # Closing resumes the clock (the deadline moves on by the pause), then it counts.
    close(action, owner, Action.Status.DONE, late)
    assert action.due_at > late and action.kept_promise
    assert counts(action, late + HOUR) == (1, 1)


def test_it_counts_a_still_open_action_past_its_deadline_as_broken(action):
    at = action.due_at + HOUR
    assert action.is_overdue(at) and not action.kept_promise
    assert counts(action, at) == (0, 1)
    assert counts(action, action.due_at - HOUR) == (0, 0)  # not yet due: not counted


def test_it_measures_against_the_first_deadline_not_the_one_it_was_moved_to(action, owner):
    first = action.due_at
    moved = first + 24 * HOUR
    action_deadline_change(
        action=action, actor=owner, due_at=moved, reason="Supplier late.", now=action.created_at
    )
    action.refresh_from_db()
    assert action.first_due_at == first and action.deadline_moved
    # Open and past the first deadline: already a broken first promise, though not overdue.
    assert not action.is_overdue(first + HOUR) and counts(action, first + HOUR) == (0, 1)
    close(action, owner, Action.Status.DONE, moved - HOUR)
    assert not action.kept_promise and action.kept_promise_in_force and action.closed_on_time
    assert counts(action, moved) == (0, 1)
    assert counts(action, moved, Promise.IN_FORCE) == (1, 1)
    assert not Action.objects.kept().exists() and Action.objects.kept(Promise.IN_FORCE).exists()
    assert list(Action.objects.deadline_moved()) == [action]


def test_it_keeps_the_first_promise_when_done_by_it_after_moving_the_deadline(action, owner):
    action_deadline_change(
        action=action,
        actor=owner,
        due_at=action.due_at + 24 * HOUR,
        reason="Supplier late.",
        now=action.created_at,
    )
    close(action, owner, Action.Status.DONE, action.first_due_at - HOUR)
    assert action.kept_promise and counts(action, action.first_due_at) == (1, 1)


def test_waiting_on_the_customer_moves_the_first_promise_too_and_is_not_a_move(action, owner):
    first = action.due_at
    action_status_set(
        action=action, actor=owner, status=Action.Status.WAITING, now=first - 2 * HOUR
    )
    action_status_set(action=action, actor=owner, status=Action.Status.OPEN, now=first + HOUR)
    action.refresh_from_db()
    # Three hours waiting on the customer: both deadlines move on by them.
    assert action.first_due_at == action.due_at == first + 3 * HOUR
    assert not action.deadline_moved
    close(action, owner, Action.Status.DONE, first + 2 * HOUR)
    assert action.kept_promise and counts(action, first + 4 * HOUR) == (1, 1)


def test_a_deadline_changed_while_waiting_still_credits_the_wait_to_the_first_promise(
    action, owner
):
    first = action.due_at
    action_status_set(
        action=action, actor=owner, status=Action.Status.WAITING, now=first - 2 * HOUR
    )
    action_deadline_change(
        action=action, actor=owner, due_at=first + 48 * HOUR, reason="Parts.", now=first
    )
    action.refresh_from_db()
    assert action.first_due_at == first + 2 * HOUR and action.deadline_moved


def test_a_reopened_action_keeps_its_first_promise(action, owner):
    first = action.due_at
    close(action, owner, Action.Status.DONE, first - HOUR)
    assert action.kept_promise
    [message] = loop_message_send(
        action=action, actor=owner, subject="Sorted", body="We did it.", now=action.closed_at
    )
    reopened_at = action.closed_at + HOUR
    loop_outcome_record(message=message, outcome=LoopMessage.Outcome.NO, now=reopened_at)
    action.refresh_from_db()
    # A fresh deadline to work to; the promise the customer was given is still the first.
    assert action.is_open and action.first_due_at == first and action.due_at > first
    assert action.closed_on_time is None and not action.kept_promise and action.deadline_moved
    assert not action.is_overdue(reopened_at) and action.is_overdue(action.due_at + HOUR)
    assert counts(action, action.due_at + HOUR) == (0, 1)
    assert counts(action, action.due_at + HOUR, Promise.IN_FORCE) == (0, 1)
    action_reopen(action=action, actor=owner, reason="again", now=reopened_at)  # no-op: open
    close(action, owner, Action.Status.DONE, action.due_at - HOUR)
    assert not action.kept_promise and action.kept_promise_in_force
    assert action.reopened_count == 1
    assert counts(action, action.due_at) == (0, 1)


def test_a_merge_counts_one_promise_and_brings_the_earlier_first_deadline(action, owner, routed):
    later = routed(
        {STOCK: False}, verbatim="No tubes.", staff=owner, now=WEDNESDAY_10AM + 24 * HOUR
    )
    assert later.first_due_at > action.first_due_at
    action_merge(action=later, actor=owner, other=action, now=WEDNESDAY_10AM + 25 * HOUR)
    action.refresh_from_db()
    later.refresh_from_db()
    assert later.first_due_at == action.first_due_at and later.deadline_moved
    close(later, owner, Action.Status.DONE, later.due_at - HOUR)
    both = Action.objects.filter(pk__in=[action.pk, later.pk])
    # The merged action (closed as won't do) is not a second, broken promise; the one it
    # joined is measured against the earlier promise its customers were given.
    assert both.promise_counts(WEDNESDAY_10AM, later.due_at) == (0, 1)
    assert both.promise_counts(WEDNESDAY_10AM, later.due_at, Promise.IN_FORCE) == (1, 1)


def test_the_row_and_the_queryset_agree_on_every_status(action):
    for status in Action.Status.values:
        Action.objects.filter(pk=action.pk).update(status=status, closed_at=action.due_at - HOUR)
        action.refresh_from_db()
        for at in (action.due_at - HOUR, action.due_at + HOUR):
            in_query = Action.objects.overdue(at).filter(pk=action.pk).exists()
            assert action.is_overdue(at) == in_query, (status, at)
        assert action.kept_promise == Action.objects.kept().filter(pk=action.pk).exists()
        in_force = Action.objects.kept(Promise.IN_FORCE).filter(pk=action.pk).exists()
        assert action.kept_promise_in_force == in_force
    Action.objects.filter(pk=action.pk).update(due_at=action.due_at + HOUR)
    action.refresh_from_db()
    assert action.deadline_moved == Action.objects.deadline_moved().filter(pk=action.pk).exists()
