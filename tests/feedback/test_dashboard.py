import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from actions.models import Action, Tag
from feedback import queries, rollups
from feedback.views import csv_cell
from surveys.models import Invitation, Response
from tests.factories import make_invitation, make_response
from tests.hostile import hostile_strings

from .helpers import make_action, make_done_consented, org_touchpoint

DAY = timedelta(days=1)


def seed(org, owner, teammate, n=3, days_ago=0):
    touchpoint = org_touchpoint(org)
    now = timezone.now()
    for i in range(n):
        when = now - days_ago * DAY
        invitation = make_invitation(touchpoint, occurred_at=when - timedelta(hours=3))
        response = make_response(
            invitation,
            answers={0: i % 2 == 0, 2: 1 + i % 5, 3: "Friend"},
            verbatim=f"Words {days_ago}-{i}",
            submitted_at=when - timedelta(hours=1),
        )
        action = make_action(
            org,
            response,
            owner=teammate if i % 2 else owner,
            status=Action.Status.DONE if i % 3 == 0 else Action.Status.OPEN,
            created_ago=days_ago * DAY + timedelta(hours=1),
            due_in=DAY,
            closed_ago=days_ago * DAY if i % 3 == 0 else None,
            now=now,
        )
        tag, _ = Tag.objects.get_or_create(org=org, name=f"tag-{i % 2}")
        action.tags.add(tag)


def test_it_shows_the_owner_their_numbers_words_first(owner_client, org, owner, teammate):
    seed(org, owner, teammate, days_ago=3)
    page = owner_client.get(reverse("feedback:dashboard"))
    assert page.status_code == 200
    text = page.text
    assert text.index("What customers said") < text.index("invitations sent")
    assert "Words 3-2" in text
    assert "Was what you needed in stock?" in text
    assert "tag-0" in text
    assert "<svg" in text and '<title id="trend-title">' in text
    assert "Promises kept, by person" in text
    # People in name order; no scores per person.
    people = text.split("Promises kept, by person", 1)[1]
    assert people.index("Alice Archer") < people.index("Bob Baker")


def test_it_filters_by_window_and_touchpoint(owner_client, org, owner, teammate):
    seed(org, owner, teammate, n=2, days_ago=20)
    seven = owner_client.get(reverse("feedback:dashboard") + "?days=7").text
    thirty = owner_client.get(reverse("feedback:dashboard") + "?days=30").text
    assert "Words 20-0" not in seven and "Words 20-0" in thirty
    tp = org_touchpoint(org)
    other = owner_client.get(reverse("feedback:dashboard") + "?days=30&touchpoint=none").text
    assert "Words 20-0" in other  # unknown touchpoint: everything
    one = owner_client.get(reverse("feedback:dashboard") + f"?days=90&touchpoint={tp.slug}")
    assert one.status_code == 200 and "Words 20-0" in one.text
    assert owner_client.get(reverse("feedback:dashboard") + "?days=abc").status_code == 200


def test_it_is_for_owners_only(teammate_client, client):
    assert teammate_client.get(reverse("feedback:dashboard")).status_code == 403
    assert teammate_client.get(reverse("feedback:export_responses")).status_code == 403
    assert teammate_client.get(reverse("feedback:export_actions")).status_code == 403
    assert client.get(reverse("feedback:dashboard")).status_code == 302


def test_it_never_shows_another_business(outsider_client, org, owner, teammate):
    seed(org, owner, teammate)
    for name in ("feedback:dashboard", "feedback:export_responses", "feedback:export_actions"):
        page = outsider_client.get(reverse(name))
        assert page.status_code == 200
        body = b"".join(page.streaming_content) if page.streaming else page.content
        assert b"Words 0-" not in body


def test_it_rejects_wrong_methods(owner_client):
    for name in ("feedback:dashboard", "feedback:export_responses", "feedback:export_actions"):
        assert owner_client.post(reverse(name)).status_code == 405


def test_it_renders_in_a_fixed_number_of_queries(
    owner_client, org, owner, teammate, django_assert_max_num_queries
):
    seed(org, owner, teammate, n=2)
    with django_assert_max_num_queries(30) as small:
        owner_client.get(reverse("feedback:dashboard"))
    seed(org, owner, teammate, n=12, days_ago=3)
    rollups.rollups_refresh(org=org, now=timezone.now())
    seed(org, owner, teammate, n=4, days_ago=0)
    with django_assert_max_num_queries(len(small.captured_queries) + 3):
        owner_client.get(reverse("feedback:dashboard"))


def test_roll_ups_give_the_same_figures_as_live_counts(org, owner, teammate):
    now = timezone.now()
    for days_ago in (0, 1, 5, 12, 40):
        seed(org, owner, teammate, n=3, days_ago=days_ago)
    live = queries.dashboard(org, days=30, touchpoint=None, now=now)
    assert rollups.rollups_refresh(org=org, now=now) >= 40
    assert rollups.rollups_refresh(org=org, now=now) == rollups.REDO_DAYS  # idempotent redo
    rolled = queries.dashboard(org, days=30, touchpoint=None, now=now)
    assert rolled["figures"].responses == live["figures"].responses == 12
    assert rolled["figures"].problem_responses == live["figures"].problem_responses
    assert rolled["figures"].invitations_sent == live["figures"].invitations_sent
    assert rolled["questions"] == live["questions"]
    assert rolled["trend"] == live["trend"]
    assert sum(week["responses"] for week in rolled["trend"]) == 15


def test_it_rolls_up_today_so_far_and_counts_live_only_what_came_since(org, owner, teammate):
    from feedback.models import DailyRollup

    now = timezone.now()
    seed(org, owner, teammate, n=3, days_ago=0)  # answered an hour ago
    seed(org, owner, teammate, n=2, days_ago=3)
    invitation = make_invitation(org_touchpoint(org), occurred_at=now - timedelta(hours=2))
    make_response(invitation, answers={0: False}, submitted_at=now - timedelta(minutes=10))
    live = queries.dashboard(org, days=7, touchpoint=None, now=now)
    rollups.rollups_refresh(org=org, now=now - timedelta(minutes=30))
    today = now.astimezone(org.tz).date()
    assert DailyRollup.objects.get(org=org, day=today).responses == 3
    mixed = queries.dashboard(org, days=7, touchpoint=None, now=now)
    for name in ("responses", "problem_responses", "invitations", "invitations_sent"):
        assert getattr(mixed["figures"], name) == getattr(live["figures"], name), name
    assert mixed["figures"].responses == 6
    assert mixed["questions"] == live["questions"]
    assert mixed["trend"] == live["trend"]


def test_it_counts_a_response_with_a_problem_action_as_a_problem(org, owner):
    make_done_consented(org)  # answers "No": a problem
    invitation = make_invitation(org_touchpoint(org))
    happy = make_response(invitation, answers={0: True}, verbatim="All good")
    make_action(org, happy, kind="problem")
    figures = queries.dashboard(org, days=7, touchpoint=None, now=timezone.now())["figures"]
    assert (figures.responses, figures.problem_responses) == (2, 2)


@pytest.mark.parametrize("hostile", hostile_strings("spreadsheet_formulas"))
def test_it_defuses_formulas_in_csv_exports(owner_client, org, owner, hostile):
    touchpoint = org_touchpoint(org)
    invitation = make_invitation(touchpoint)
    invitation.customer.name = hostile
    invitation.customer.save()
    response = make_response(invitation, verbatim=hostile)
    make_action(org, response, resolution=hostile, status=Action.Status.DONE, closed_ago=DAY)
    for name in ("feedback:export_responses", "feedback:export_actions"):
        page = owner_client.get(reverse(name))
        assert page["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(b"".join(page.streaming_content).decode())))
        cells = [cell for row in rows[1:] for cell in row]
        assert "'" + hostile in cells
        assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


def test_csv_cell_leaves_plain_text_alone():
    assert csv_cell("Fine words") == "Fine words"
    assert csv_cell(None) == ""
    assert csv_cell("-2") == "'-2"


def test_the_sweep_refreshes_every_organisation(org, other_org, owner, teammate):
    from feedback.models import RollupState
    from feedback.tasks import refresh_rollups

    seed(org, owner, teammate, days_ago=2)
    refresh_rollups()
    refresh_rollups()
    assert RollupState.objects.filter(org=org).exists()
    figures = queries.dashboard(org, days=7, touchpoint=None, now=timezone.now())["figures"]
    assert figures.responses == 3


def test_it_exports_kept_on_time_by_the_promise_rule(owner_client, org):
    """Done by the deadline is kept; won't do before it and done late are not; open is blank."""
    Status = Action.Status
    cases = {
        "kept": make_action(org, status=Status.DONE, due_in=2 * DAY, closed_ago=2 * DAY),
        "wont": make_action(org, status=Status.WONT_DO, due_in=2 * DAY, closed_ago=2 * DAY),
        "late": make_action(org, status=Status.DONE, due_in=DAY, closed_ago=DAY / 2),
        "open": make_action(org, status=Status.OPEN, due_in=DAY),
    }
    page = owner_client.get(reverse("feedback:export_actions"))
    rows = list(csv.DictReader(io.StringIO(b"".join(page.streaming_content).decode())))
    kept = {row["code"]: row["kept_on_time"] for row in rows}
    assert {name: kept[str(a.code)] for name, a in cases.items()} == {
        "kept": "yes",
        "wont": "no",
        "late": "no",
        "open": "",
    }


def _by_channel(org, channels):
    """One response submitted an hour ago per entry of ``channels``: an emailed invitation
    for "email", a public one (never sent) for the other doors, as public links make them."""
    touchpoint = org_touchpoint(org)
    made = []
    for channel in channels:
        if channel == "email":
            invitation = make_invitation(touchpoint)
        else:
            invitation = make_invitation(touchpoint, status=Invitation.Status.PUBLIC, sent_at=None)
        response = make_response(invitation, submitted_at=timezone.now() - timedelta(hours=1))
        Response.objects.filter(pk=response.pk).update(channel=channel)
        made.append(response)
    return made


def test_it_counts_responses_by_channel_and_rates_only_emailed_ones(
    owner_client, org, django_assert_num_queries
):
    _by_channel(org, ["email", "kiosk", "kiosk", "qr"])
    make_invitation(org_touchpoint(org))  # emailed, not answered
    window = queries.stats.window_for(org, 30, timezone.now())
    with django_assert_num_queries(1):
        rows = queries.responses_by_channel(org, window)
    assert [(r["channel"], r["count"]) for r in rows] == [
        ("email", 1),
        ("link", 0),
        ("qr", 1),
        ("website", 0),
        ("kiosk", 2),
    ]
    context = queries.dashboard(org, days=30, touchpoint=None, now=timezone.now())
    figures = context["figures"]
    # Two invitations emailed, one answered: 50%, not 200% with the kiosk and QR answers.
    assert (figures.invitations_sent, figures.responses) == (2, 4)
    assert figures.response_rate == 50

    text = owner_client.get(reverse("feedback:dashboard")).text
    assert "50% response rate, emailed invitations only" in text
    table = text.split("Responses by channel", 1)[1].split("</table>", 1)[0]
    assert '<th scope="row">Kiosk</th><td>2</td>' in table
    assert '<th scope="row">QR code</th><td>1</td>' in table


def test_it_exports_each_responses_channel(owner_client, org):
    _by_channel(org, ["kiosk", "email"])
    page = owner_client.get(reverse("feedback:export_responses"))
    rows = list(csv.DictReader(io.StringIO(b"".join(page.streaming_content).decode())))
    assert sorted(row["channel"] for row in rows) == ["email", "kiosk"]
    assert rows[0]["channel"] == "email"  # newest first: the second one made
