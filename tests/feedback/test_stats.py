from datetime import timedelta

import pytest
from django.utils import timezone

from actions.durations import duration_words
from actions.models import Action, Promise
from feedback import stats
from feedback.services import quote_problem

from .helpers import make_action

Status = Action.Status
DAY = timedelta(days=1)


def kept(org, now, days=90):
    window = stats.window_for(org, days, now)
    return stats.promises_kept(Action.objects.for_org(org), window.start, window.end)


def test_it_counts_done_by_the_deadline_as_kept(org):
    now = timezone.now()
    make_action(
        org, status=Status.DONE, created_ago=5 * DAY, due_in=3 * DAY, closed_ago=3 * DAY, now=now
    )
    assert kept(org, now) == stats.PromisesKept(kept=1, total=1)


def test_it_counts_done_late_as_not_kept(org):
    now = timezone.now()
    make_action(
        org, status=Status.DONE, created_ago=5 * DAY, due_in=1 * DAY, closed_ago=1 * DAY, now=now
    )
    assert kept(org, now) == stats.PromisesKept(kept=0, total=1)


def test_it_counts_wont_do_as_not_kept_even_before_the_deadline(org):
    now = timezone.now()
    make_action(
        org, status=Status.WONT_DO, created_ago=2 * DAY, due_in=5 * DAY, closed_ago=1 * DAY, now=now
    )
    assert kept(org, now) == stats.PromisesKept(kept=0, total=1)


def test_it_counts_a_still_open_action_past_its_deadline_as_broken(org):
    now = timezone.now()
    make_action(org, status=Status.OPEN, created_ago=5 * DAY, due_in=2 * DAY, now=now)
    make_action(org, status=Status.IN_PROGRESS, created_ago=5 * DAY, due_in=3 * DAY, now=now)
    assert kept(org, now) == stats.PromisesKept(kept=0, total=2)


def test_it_leaves_out_open_actions_not_yet_due_and_actions_waiting_on_the_customer(org):
    now = timezone.now()
    make_action(org, status=Status.OPEN, created_ago=1 * DAY, due_in=3 * DAY, now=now)
    make_action(org, status=Status.WAITING, created_ago=5 * DAY, due_in=1 * DAY, now=now)
    assert kept(org, now) == stats.PromisesKept(kept=0, total=0)
    assert kept(org, now).percent is None


def test_it_measures_against_the_first_deadline_and_keeps_the_moved_one_apart(org):
    # The deadline moved (with a reason, in the history) from 1 to 4 days: done on day 3 is
    # a first promise broken, though done by the deadline in force.
    now = timezone.now()
    action = make_action(
        org, status=Status.DONE, created_ago=5 * DAY, due_in=4 * DAY, closed_ago=2 * DAY, now=now
    )
    Action.objects.filter(pk=action.pk).update(first_due_at=action.created_at + DAY)
    assert kept(org, now) == stats.PromisesKept(kept=0, total=1)
    window = stats.window_for(org, 30, now)
    in_force = stats.promises_kept(
        Action.objects.for_org(org), window.start, window.end, Promise.IN_FORCE
    )
    assert in_force == stats.PromisesKept(kept=1, total=1)


def test_it_counts_only_actions_due_or_closed_in_the_window(org):
    now = timezone.now()
    # Due and closed long ago: outside a 7-day window.
    make_action(
        org, status=Status.DONE, created_ago=40 * DAY, due_in=2 * DAY, closed_ago=39 * DAY, now=now
    )
    # Closed in the window although due before it: late, counted, broken.
    make_action(
        org, status=Status.DONE, created_ago=20 * DAY, due_in=2 * DAY, closed_ago=3 * DAY, now=now
    )
    # Closed before the window, early, due in the window: counted and kept.
    make_action(
        org, status=Status.DONE, created_ago=12 * DAY, due_in=8 * DAY, closed_ago=10 * DAY, now=now
    )
    assert kept(org, now, days=7) == stats.PromisesKept(kept=1, total=2)
    assert kept(org, now, days=90) == stats.PromisesKept(kept=2, total=3)


def test_it_ignores_other_organisations(org, other_org):
    now = timezone.now()
    make_action(other_org, status=Status.OPEN, created_ago=5 * DAY, due_in=DAY, now=now)
    assert kept(org, now).total == 0


@pytest.mark.parametrize(("k", "total", "percent"), [(47, 50, 94), (199, 200, 99), (0, 3, 0)])
def test_it_rounds_the_percentage_down(k, total, percent):
    assert stats.PromisesKept(kept=k, total=total).percent == percent


def test_it_computes_median_times_to_first_reply_and_closed_loop(org):
    now = timezone.now()
    for hours in (2, 4, 30):
        created = now - timedelta(days=3)
        make_action(
            org,
            status=Status.DONE,
            created_ago=3 * DAY,
            due_in=3 * DAY,
            closed_ago=3 * DAY - timedelta(hours=hours),
            now=now,
            first_reply_at=created + timedelta(hours=hours / 2),
        )
    window = stats.window_for(org, 30, now)
    medians = stats.median_durations(
        Action.objects.for_org(org), **stats.loop_durations(window.start, window.end)
    )
    assert medians["closed_loop"] == timedelta(hours=4)
    assert medians["first_reply"] == timedelta(hours=2)


def test_it_says_none_when_nothing_closed(org):
    window = stats.window_for(org, 7, timezone.now())
    medians = stats.median_durations(
        Action.objects.for_org(org), **stats.loop_durations(window.start, window.end)
    )
    assert medians == {"first_reply": None, "closed_loop": None}
    assert duration_words(None) == "—"


ORIGINAL = "The staff were lovely, but Dave Smith at the counter kept me waiting 40 minutes!"


@pytest.mark.parametrize(
    "quote",
    [
        ORIGINAL,
        "The staff were lovely …",
        "The staff were lovely, but […] kept me waiting 40 minutes!",
        "[...] kept me waiting 40 minutes",
        "the staff were LOVELY... waiting 40 minutes",
    ],
)
def test_it_accepts_a_quote_that_only_shortens(quote):
    assert quote_problem(quote=quote, original=ORIGINAL) is None


@pytest.mark.parametrize(
    "quote",
    [
        "The staff were really lovely",
        "The staff were not lovely",
        "kept me waiting, the staff were lovely",
        "[name redacted] kept me waiting",
        "…",
        "",
    ],
)
def test_it_refuses_a_quote_that_adds_or_reorders_words(quote):
    assert quote_problem(quote=quote, original=ORIGINAL)
