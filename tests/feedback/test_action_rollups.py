"""The action roll-ups give exactly the figures counted live, for every window and filter."""

from datetime import timedelta

from django.utils import timezone

from actions.models import Action, Tag
from feedback import queries, rollups, stats
from feedback.models import ActionRollup, RollupState
from tests.factories import make_touchpoint

from .helpers import make_action, org_touchpoint

Status = Action.Status
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def _tag(action, *names):
    for name in names:
        action.tags.add(Tag.objects.get_or_create(org=action.org, name=name)[0])


def varied_actions(org, owner, teammate, now):
    """Every kind of action the figures treat differently, spread over 120 days. Offsets are
    whole seconds from ``now``, so every duration (and median) is exact."""
    shop = org_touchpoint(org)
    phone = make_touchpoint(org, slug="phone", name="Phone support")
    made = []
    for n, days_ago in enumerate((0, 1, 2, 6, 8, 13, 29, 31, 45, 89, 91, 120)):
        base = days_ago * DAY + (n % 5) * HOUR
        touchpoint = shop if n % 2 else phone
        who = owner if n % 3 else teammate
        reply = {"first_reply_at": now - base - 4 * DAY + (n + 1) * HOUR}

        def add(status, created_ago, due_in, closed_ago=None, who=who, tp=touchpoint, **extra):
            made.append(
                make_action(
                    org,
                    status=status,
                    owner=who,
                    touchpoint=tp,
                    created_ago=created_ago,
                    due_in=due_in,
                    closed_ago=closed_ago,
                    now=now,
                    **extra,
                )
            )
            return made[-1]

        add(Status.DONE, base + 4 * DAY, 3 * DAY, base + DAY, **reply)  # done by the deadline
        add(Status.DONE, base + 6 * DAY, 2 * DAY, base)  # done late
        add(Status.WONT_DO, base + 2 * DAY, 5 * DAY, base, who=None, **reply)
        add(Status.OPEN, base + 3 * DAY, 3 * DAY - HOUR)  # still open past the deadline
        add(Status.IN_PROGRESS, base + 2 * DAY, 2 * DAY, **reply)
        add(Status.WAITING, base + 2 * DAY, DAY)  # the clock is paused: no promise counted
        moved = add(Status.DONE, base + 5 * DAY, 4 * DAY, base + 2 * HOUR)
        Action.objects.filter(pk=moved.pk).update(first_due_at=moved.created_at + DAY)
        # Closed early, deadline still ahead: counted by its close until the deadline passes.
        add(Status.DONE, base + DAY, base + 10 * DAY, base)
        for i, action in enumerate(made[-8:]):
            _tag(action, *["stock", "price", "staff"][: 1 + (i + n) % 3])
    # Open, not due yet, opened in the last days: only the tags count it.
    _tag(
        make_action(
            org, status=Status.OPEN, owner=owner, created_ago=2 * DAY, due_in=9 * DAY, now=now
        ),
        "waiting time",
    )
    return shop, phone


def _everything(org, now, days, touchpoint):
    page = queries.dashboard(org, days=days, touchpoint=touchpoint, now=now)
    figures = page["figures"]
    return {
        "closed": figures.actions_closed,
        "open": figures.open_actions,
        "overdue": figures.overdue_actions,
        "moved": figures.deadlines_moved,
        "promises": figures.promises,
        "first_reply": figures.median_first_reply,
        "closed_loop": figures.median_closed_loop,
        "people": page["people"],
        "tags": page["tags"],
    }


def test_it_gives_the_same_action_figures_as_live_counts(org, owner, teammate):
    now = timezone.now()
    shop, phone = varied_actions(org, owner, teammate, now)
    cases = [(days, tp) for days in queries.DASHBOARD_WINDOWS for tp in (None, shop, phone)]
    live = {case: _everything(org, now, *case) for case in cases}
    rollups.rollups_refresh(org=org, now=now)
    assert ActionRollup.objects.filter(org=org).exists()
    for case in cases:
        assert _everything(org, now, *case) == live[case], case
    # The live figures themselves agree with the plain definitions in ``stats``.
    window = stats.window_for(org, 90, now)
    everything = Action.objects.for_org(org)
    assert live[(90, None)]["promises"] == stats.promises_kept(everything, window.start, now)
    assert live[(90, None)]["promises"].total > 20
    medians = stats.median_durations(everything, **stats.loop_durations(window.start, now))
    assert live[(90, None)]["first_reply"] == medians["first_reply"]
    assert live[(90, None)]["closed_loop"] == medians["closed_loop"]
    assert [t["tag__name"] for t in live[(7, None)]["tags"]][-1] == "waiting time"


def test_it_counts_changes_since_the_last_refresh_on_the_next(org, owner, teammate):
    now = timezone.now()
    varied_actions(org, owner, teammate, now)
    rollups.rollups_refresh(org=org, now=now)
    # An action overdue for 60 days is closed, another is reopened: their key days move.
    overdue = Action.objects.filter(status=Status.OPEN, due_at__lt=now - 50 * DAY).first()
    Action.objects.filter(pk=overdue.pk).update(status=Status.DONE, closed_at=now - HOUR)
    done = Action.objects.filter(status=Status.DONE, closed_at__lt=now - 20 * DAY).first()
    Action.objects.filter(pk=done.pk).update(status=Status.OPEN, closed_at=None, due_at=now + DAY)
    later = now + timedelta(minutes=15)
    RollupState.objects.filter(org=org).delete()
    ActionRollup.objects.filter(org=org).delete()
    live = _everything(org, later, 90, None)
    rollups.rollups_refresh(org=org, now=later)
    assert _everything(org, later, 90, None) == live


def test_it_counts_live_when_the_roll_ups_do_not_reach_back_far_enough(org, owner, teammate):
    now = timezone.now()
    varied_actions(org, owner, teammate, now)
    live = _everything(org, now, 90, None)
    rollups.rollups_refresh(org=org, now=now)
    RollupState.objects.filter(org=org).update(actions_from=now.date() - 30 * DAY)
    assert _everything(org, now, 90, None) == live
