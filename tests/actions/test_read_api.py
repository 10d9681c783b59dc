"""The read API's actions part: GET /api/v1/actions and /api/v1/actions/<code>."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from actions.models import Action, ActionEvent
from tests.factories import make_customer, make_touchpoint
from tests.feedback.helpers import make_action

ACTIONS = "/api/v1/actions"


def get(token: str, path: str, **params):
    return Client().get(path, params, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def reader(org, owner):
    return ApiToken.issue(org=org, name="BI", created_by=owner, scopes=["read"])[1]


def test_it_lists_actions_with_owner_deadlines_and_history(org, owner, reader):
    action = make_action(org, owner=owner, words="Too slow", created_ago=timedelta(hours=1))
    ActionEvent.objects.create(action=action, kind="note", text="Called them", actor=owner)
    body = get(reader, ACTIONS).json()
    [row] = body["results"]
    assert row["id"] == str(action.code)
    assert row["owner"]["email"] == owner.user.email
    assert row["status"] == "open"
    assert row["words"] == "Too slow"
    assert row["due_at"] == action.due_at.isoformat()
    assert [(e["kind"], e["text"]) for e in row["history"]][-1] == ("note", "Called them")
    assert body["next"] is None


def test_another_businesss_actions_never_appear_and_their_codes_are_404(org, other_org, reader):
    ours = make_action(org, words="Ours")
    theirs = make_action(other_org, words="Theirs")
    assert [r["words"] for r in get(reader, ACTIONS).json()["results"]] == ["Ours"]
    assert get(reader, f"{ACTIONS}/{ours.code}").json()["words"] == "Ours"
    missing = get(reader, f"{ACTIONS}/{theirs.code}")
    assert missing.status_code == 404
    assert missing.json()["errors"]
    assert get(reader, f"{ACTIONS}/not-a-uuid").status_code == 404


def test_it_filters_by_status_time_and_touchpoint(org, reader):
    repair = make_touchpoint(org, slug="repair")
    make_action(org, words="open repair", touchpoint=repair, created_ago=timedelta(hours=1))
    make_action(org, words="done", status="done", closed_ago=timedelta(hours=1))
    make_action(org, words="old", created_ago=timedelta(days=10))
    words = lambda **p: sorted(r["words"] for r in get(reader, ACTIONS, **p).json()["results"])  # noqa: E731
    assert words(status="done") == ["done"]
    assert words(touchpoint="repair") == ["open repair"]
    assert words(until=(timezone.now() - timedelta(days=5)).isoformat()) == ["old"]
    assert "old" not in words(since=(timezone.now() - timedelta(days=5)).isoformat())
    assert get(reader, ACTIONS, status="lost").status_code == 400


def test_it_pages_through_1000_actions_at_constant_queries(org, reader, django_assert_num_queries):
    customer = make_customer(org)
    now = timezone.now()
    Action.objects.bulk_create(
        # Many share a created_at: the id breaks ties, so no row is skipped or repeated.
        Action(
            org=org,
            customer=customer,
            created_at=now - timedelta(seconds=n % 7),
            due_at=now,
            first_due_at=now,
        )
        for n in range(1000)
    )
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {reader}"}
    url = ACTIONS + "?limit=100"
    client.get(url, **auth)  # notes the token's last use
    seen, pages = [], 0
    while url:
        # The token, the page and its history: 3 however deep the page.
        with django_assert_num_queries(3):
            body = client.get(url, **auth).json()
        seen += [r["id"] for r in body["results"]]
        url, pages = body["next"], pages + 1
    assert pages == 10
    assert len(seen) == len(set(seen)) == 1000


def test_a_token_without_read_is_403(org, owner):
    _token, raw = ApiToken.issue(org=org, name="Till", created_by=owner)  # ingest only
    response = get(raw, ACTIONS)
    assert response.status_code == 403
    assert response.json()["errors"]["__all__"][0].startswith("This token can't read")
