"""The dashboard's causes: the ones behind the most problems closed in the period, each with
the period before for its trend."""

from datetime import timedelta

from django.utils import timezone

from actions.models import Action, Cause
from feedback import queries, stats

from .helpers import make_action

DAY = timedelta(days=1)


def closed_problems(org, cause, days_ago: list[int], kind="problem", **extra):
    for ago in days_ago:
        make_action(
            org,
            status=Action.Status.DONE,
            kind=kind,
            created_ago=ago * DAY + timedelta(hours=2),
            closed_ago=ago * DAY,
            cause=cause,
            **extra,
        )


def test_it_shows_the_causes_behind_the_most_problems_with_their_trend(org, owner_client):
    stock = Cause.objects.create(org=org, name="Part out of stock")
    rushed = Cause.objects.create(org=org, name="Rushed workshop")
    quiet = Cause.objects.create(org=org, name="Quiet cause")
    # Last 7 days: stock 3, rushed 1. The 7 days before: stock 1, rushed 2, quiet 4.
    closed_problems(org, stock, [1, 2, 3, 9])
    closed_problems(org, rushed, [2, 8, 10])
    closed_problems(org, quiet, [8, 9, 10, 11])
    # Not counted: praise, a reopened problem, a merged one, another business's.
    closed_problems(org, rushed, [1], kind="praise")
    make_action(org, status=Action.Status.OPEN, cause=rushed, created_ago=DAY)
    target = make_action(org, status=Action.Status.OPEN)
    closed_problems(org, rushed, [1], merged_into=target)
    window = stats.window_for(org, 7, timezone.now())
    assert queries.cause_trend(org, window) == [
        {"name": "Part out of stock", "now": 3, "before": 1, "change": 2},
        {"name": "Rushed workshop", "now": 1, "before": 2, "change": -1},
    ]
    html = owner_client.get("/dashboard/?days=7").content.decode()
    section = html.split('id="causes-heading"')[1].split("</section>")[0]
    assert section.index("Part out of stock") < section.index("Rushed workshop")
    assert "up 2" in section and "down 1" in section
    assert "Quiet cause" not in section  # nothing in this period


def test_it_keeps_other_businesses_causes_out(org, other_org, owner_client):
    theirs = Cause.objects.create(org=other_org, name="Their cause")
    closed_problems(other_org, theirs, [1, 2])
    window = stats.window_for(org, 30, timezone.now())
    assert queries.cause_trend(org, window) == []
    assert "Their cause" not in owner_client.get("/dashboard/").content.decode()
