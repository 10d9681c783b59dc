"""Causes: each business's own short list, asked for when a problem closes; owners edit it,
and another business's cause is a 404."""

import pytest
from django.utils import timezone

from actions.models import Action, Cause
from actions.services import ActionError, action_close, cause_create
from tests.feedback.helpers import make_action

STOCK = 0


@pytest.fixture
def stock(org):
    return Cause.objects.create(org=org, name="Part out of stock")


def test_owners_add_rename_and_retire_causes(owner_client, org):
    assert (
        owner_client.post("/actions/causes/", {"name": "  Rushed   workshop "}).status_code == 302
    )
    cause = Cause.objects.get(org=org)
    assert cause.name == "Rushed workshop"
    # The same name again (any case) is refused, not doubled.
    assert owner_client.post("/actions/causes/", {"name": "rushed workshop"}).status_code == 400
    page = owner_client.post(f"/actions/causes/{cause.code}/", {"name": "Rushed job"})
    assert page.status_code == 302
    cause.refresh_from_db()
    assert (cause.name, cause.active) == ("Rushed job", False)
    assert "Rushed job" in owner_client.get("/actions/causes/").content.decode()


def test_staff_cant_edit_the_list(teammate_client, stock):
    assert teammate_client.post("/actions/causes/", {"name": "Anything"}).status_code in (302, 403)
    teammate_client.post(f"/actions/causes/{stock.code}/", {"name": "Renamed", "active": "on"})
    stock.refresh_from_db()
    assert stock.name == "Part out of stock"
    assert Cause.objects.count() == 1


def test_another_businesss_cause_is_a_404(owner_client, other_org):
    theirs = Cause.objects.create(org=other_org, name="Their cause")
    page = owner_client.post(f"/actions/causes/{theirs.code}/", {"name": "Mine now"})
    assert page.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Their cause" and theirs.active


def test_closing_a_problem_asks_for_its_cause_once_there_is_a_list(
    routed, owner, owner_client, stock
):
    action = routed({STOCK: False}, verbatim="No tubes.")
    page = owner_client.post(
        f"/actions/{action.code}/close/", {"status": "done", "resolution": "Ordered more."}
    )
    assert page.status_code == 400
    assert "Choose why it happened" in page.content.decode()
    action.refresh_from_db()
    assert action.is_open
    page = owner_client.post(
        f"/actions/{action.code}/close/",
        {"status": "done", "resolution": "Ordered more.", "cause": str(stock.code)},
    )
    assert page.status_code == 302
    action.refresh_from_db()
    assert action.cause == stock and action.status == Action.Status.DONE
    assert action.events.get(kind="closed").data["cause"] == "Part out of stock"


def test_closing_without_a_list_asks_nothing(routed, owner_client):
    action = routed({STOCK: False}, verbatim="No tubes.")
    page = owner_client.post(
        f"/actions/{action.code}/close/", {"status": "done", "resolution": "Ordered more."}
    )
    assert page.status_code == 302


def test_another_businesss_cause_cant_close_a_problem(
    routed, owner, owner_client, other_org, stock
):
    theirs = Cause.objects.create(org=other_org, name="Their cause")
    action = routed({STOCK: False}, verbatim="No tubes.")
    page = owner_client.post(
        f"/actions/{action.code}/close/",
        {"status": "done", "resolution": "Ordered more.", "cause": str(theirs.code)},
    )
    assert page.status_code == 400
    action.refresh_from_db()
    assert action.is_open and action.cause is None
    with pytest.raises(ActionError):
        action_close(
            action=action,
            actor=owner,
            status="done",
            resolution="Ordered.",
            cause=theirs,
            now=timezone.now(),
        )


def test_a_retired_cause_is_no_longer_offered(org, owner, owner_client, stock):
    action = make_action(org, words="Slow.")
    cause_create(org=org, name="Rushed workshop", now=action.created_at)
    stock.active = False
    stock.save()
    html = owner_client.get(action.get_absolute_url()).content.decode()
    assert "Rushed workshop" in html and "Part out of stock" not in html
