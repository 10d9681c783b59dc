"""The first promise counts on the wall and the dashboard, beside the share of deadlines that
moved; and what customers answered to "Did this sort it out?" is counted once per action."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from actions.models import Action, LoopMessage
from actions.routing import response_route
from actions.services import (
    action_close,
    action_deadline_change,
    action_merge,
    loop_message_send,
    loop_outcome_record,
)
from feedback import queries, rollups, stats
from feedback.services import wall_entry_publish
from tests.factories import make_customer, make_invitation, make_response

from .helpers import org_touchpoint

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def wall_org(org):
    org.wall_enabled = True
    org.save()
    return org


def opened(org, owner, *, ago, words="The chain slipped again.", consent=False, name="Pat Jones"):
    """A customer's "No", routed into an action ``ago`` before now (due two working days
    later); returns the action."""
    customer = make_customer(org, name=name)
    invitation = make_invitation(org_touchpoint(org), customer=customer, staff=owner)
    response = make_response(invitation, answers={0: False}, verbatim=words, consent=consent)
    return response_route(response_id=response.pk, now=timezone.now() - ago)


def close(action, owner, at):
    action_close(
        action=action, actor=owner, status=Action.Status.DONE, resolution="Fixed it.", now=at
    )
    action.refresh_from_db()


def tell(action, owner, at):
    messages = loop_message_send(
        action=action, actor=owner, subject="Sorted", body="We fixed it.", now=at
    )
    action.refresh_from_db()
    return messages


def text_of(response):
    return re.sub(r"\s+", " ", response.content.decode())


def wall(client, org):
    return text_of(client.get(reverse("feedback:wall", args=[org.slug])))


def test_the_wall_counts_a_moved_deadline_closed_late_as_not_kept(client, wall_org, owner):
    now = timezone.now()
    on_time = opened(wall_org, owner, ago=10 * DAY)
    close(on_time, owner, on_time.due_at - HOUR)
    moved = opened(wall_org, owner, ago=10 * DAY, name="Sam Lee")
    action_deadline_change(
        action=moved,
        actor=owner,
        due_at=moved.due_at + 3 * DAY,
        reason="Supplier late.",
        customer_reason="the part is on back order",
        now=moved.created_at + HOUR,
    )
    # Done by the moved deadline, after the first one: kept only against the deadline in force.
    close(moved, owner, moved.first_due_at + DAY)
    assert moved.kept_promise_in_force and not moved.kept_promise

    page = wall(client, wall_org)
    assert "1 of 2 actions done by the first deadline they were given; 50% had their" in page
    assert ">50%<" in page and "in force" not in page

    window = stats.window_for(wall_org, 90, now)
    figures = queries.figures(wall_org, window)
    assert (figures.promises.kept, figures.promises.total, figures.deadlines_moved) == (1, 2, 1)
    assert (figures.promises_in_force.kept, figures.promises_in_force.total) == (2, 2)


def test_the_roll_ups_and_the_live_count_agree_on_the_first_promise(owner_client, org, owner):
    now = timezone.now()
    # First deadline in the rolled-up past, moved into the future, still open: broken.
    broken = opened(org, owner, ago=20 * DAY)
    action_deadline_change(
        action=broken,
        actor=owner,
        due_at=now + 5 * DAY,
        reason="Waiting for parts.",
        now=broken.created_at + HOUR,
    )
    kept = opened(org, owner, ago=12 * DAY, name="Kim Park")
    close(kept, owner, kept.due_at - HOUR)
    late = opened(org, owner, ago=15 * DAY, name="Lou Ray")
    close(late, owner, late.due_at + DAY)
    window = stats.window_for(org, 30, now)
    live = queries.figures(org, window)
    assert (live.promises.kept, live.promises.total, live.deadlines_moved) == (1, 3, 1)
    # In force, the moved action is not due yet: not counted.
    assert (live.promises_in_force.kept, live.promises_in_force.total) == (1, 2)
    rollups.rollups_refresh(org=org, now=now)
    rolled = queries.figures(org, window)
    assert rolled.promises == live.promises
    assert rolled.promises_in_force == live.promises_in_force
    assert rolled.deadlines_moved == live.deadlines_moved
    page = text_of(owner_client.get(reverse("feedback:dashboard")))
    assert "promises kept on time (first deadline)" in page
    assert "Kept against the deadline in force: 50% (1 of 2)" in page


def test_it_counts_confirmed_fixed_not_sorted_and_no_answer_once_per_action(
    client, wall_org, owner
):
    now = timezone.now()
    yes = opened(wall_org, owner, ago=6 * DAY, consent=True, words="Brakes squeal.")
    no = opened(wall_org, owner, ago=6 * DAY, name="Sam Lee")
    silent = opened(wall_org, owner, ago=6 * DAY, name="Kim Park")
    never_told = opened(wall_org, owner, ago=6 * DAY, name="Lou Ray")
    for action in (yes, no, silent, never_told):
        close(action, owner, now - 5 * DAY)
    for action in (yes, no, silent):
        tell(action, owner, now - 5 * DAY)
    [to_yes] = yes.loop_messages.all()
    loop_outcome_record(message=to_yes, outcome=LoopMessage.Outcome.YES, now=now - 4 * DAY)
    [to_no] = no.loop_messages.all()
    loop_outcome_record(message=to_no, outcome=LoopMessage.Outcome.NO, now=now - 4 * DAY)
    no.refresh_from_db()
    assert no.is_open  # a No reopened it

    counted = Action.objects.for_org(wall_org).told_outcomes(now - 30 * DAY, now)
    assert counted == {"told": 3, "confirmed": 1, "not_sorted": 1, "no_answer": 1}

    wall_entry_publish(
        action=yes,
        response=yes.response,
        quote=yes.response.verbatim,
        what_we_did=yes.resolution,
        member=owner,
        now=now,
    )
    page = wall(client, wall_org)
    assert "Confirmed fixed by the customer" in page
    assert '<dd class="figure">1 of 3</dd>' in page
    assert "1 not sorted (reopened), 1 no answer yet" in page
    assert "Confirmed by the customer" in page


def test_a_reopened_and_retold_action_counts_once_with_its_latest_answer(org, owner):
    now = timezone.now()
    action = opened(org, owner, ago=8 * DAY)
    close(action, owner, now - 7 * DAY)
    [first] = tell(action, owner, now - 7 * DAY)
    loop_outcome_record(message=first, outcome=LoopMessage.Outcome.NO, now=now - 6 * DAY)
    action.refresh_from_db()
    close(action, owner, now - 5 * DAY)
    [second] = tell(action, owner, now - 5 * DAY)
    actions = Action.objects.for_org(org)
    assert actions.told_outcomes(now - 30 * DAY, now)["not_sorted"] == 0
    assert actions.told_outcomes(now - 30 * DAY, now)["no_answer"] == 1
    loop_outcome_record(message=second, outcome=LoopMessage.Outcome.YES, now=now - 4 * DAY)
    assert actions.told_outcomes(now - 30 * DAY, now) == {
        "told": 1,
        "confirmed": 1,
        "not_sorted": 0,
        "no_answer": 0,
    }


def test_a_merged_action_counts_once_however_many_customers_answer(org, owner):
    now = timezone.now()
    target = opened(org, owner, ago=8 * DAY)
    other = opened(org, owner, ago=8 * DAY, name="Sam Lee")
    action_merge(action=target, actor=owner, other=other, now=now - 7 * DAY)
    close(target, owner, now - 6 * DAY)
    messages = tell(target, owner, now - 6 * DAY)
    assert len(messages) == 2  # both customers told
    for message in messages:
        loop_outcome_record(message=message, outcome=LoopMessage.Outcome.YES, now=now - 5 * DAY)
    counted = Action.objects.for_org(org).told_outcomes(now - 30 * DAY, now)
    assert counted == {"told": 1, "confirmed": 1, "not_sorted": 0, "no_answer": 0}
    # And one promise, not two: the merged action is not a broken one.
    window = stats.window_for(org, 30, now)
    assert queries.figures(org, window).promises.total == 1
