"""Tenancy: a member of business A gets 404 for every URL that names business B's objects.

Each later issue adds its object URLs to ``OBJECT_URLS`` (a builder taking B's objects) so the
whole surface stays covered by one test.
"""

import pytest
from django.utils import timezone

from accounts.hooks import webhook_endpoint_create, webhook_endpoint_test
from accounts.models import ApiToken
from accounts.services import staff_invite_create
from tests.conftest import client_for, make_member
from tests.tenancy import assert_404_for_outsider


@pytest.fixture
def b_objects(other_org, outsider):
    """Business B's objects, one of each kind that a URL names."""
    staff = make_member(other_org, "sid@beta.example", "staff", "Sid Staff")
    invite = staff_invite_create(
        org=other_org,
        email="ivy@beta.example",
        name="",
        role="staff",
        invited_by=outsider,
        now=timezone.now(),
    )
    token, _ = ApiToken.issue(org=other_org, name="B's till", created_by=outsider)
    endpoint, _ = webhook_endpoint_create(
        org=other_org,
        kind="webhook",
        url="https://hooks.beta.example/heard",
        events=["action.closed"],
        description="B's CRM",
        touchpoints=[],
        by=outsider,
        now=timezone.now(),
    )
    delivery = webhook_endpoint_test(endpoint=endpoint, now=timezone.now())
    return {
        "owner": outsider,
        "staff": staff,
        "invite": invite,
        "token": token,
        "endpoint": endpoint,
        "delivery": delivery,
    }


# (method, builder) for every URL that names one of another business's objects.
OBJECT_URLS = [
    ("post", lambda b: f"/settings/invites/{b['invite'].code}/resend/"),
    ("post", lambda b: f"/settings/invites/{b['invite'].code}/revoke/"),
    ("post", lambda b: f"/settings/members/{b['staff'].code}/role/"),
    ("post", lambda b: f"/settings/members/{b['owner'].code}/role/"),
    ("post", lambda b: f"/settings/members/{b['staff'].code}/remove/"),
    ("post", lambda b: f"/settings/members/{b['owner'].code}/remove/"),
    ("post", lambda b: f"/settings/tokens/{b['token'].code}/revoke/"),
    ("get", lambda b: f"/settings/integrations/{b['endpoint'].code}/"),
    ("post", lambda b: f"/settings/integrations/{b['endpoint'].code}/"),
    ("post", lambda b: f"/settings/integrations/{b['endpoint'].code}/rotate/"),
    ("post", lambda b: f"/settings/integrations/{b['endpoint'].code}/switch/"),
    ("post", lambda b: f"/settings/integrations/{b['endpoint'].code}/test/"),
    ("post", lambda b: f"/settings/integrations/{b['endpoint'].code}/delete/"),
    ("post", lambda b: f"/settings/integrations/deliveries/{b['delivery'].code}/replay/"),
]


def test_an_owner_of_another_business_gets_404_for_every_object_url(owner_client, b_objects):
    for method in sorted({m for m, _ in OBJECT_URLS}):
        urls = [build(b_objects) for m, build in OBJECT_URLS if m == method]
        assert_404_for_outsider(owner_client, urls, method=method)


def test_nothing_of_business_b_changed(owner_client, b_objects):
    for _, build in OBJECT_URLS:
        owner_client.post(build(b_objects))
    b = b_objects
    b["invite"].refresh_from_db()
    b["token"].refresh_from_db()
    b["staff"].refresh_from_db()
    assert b["invite"].revoked_at is None
    assert b["token"].revoked_at is None
    assert b["staff"].role == "staff"
    assert b["owner"].org.memberships.count() == 2
    b["endpoint"].refresh_from_db()  # still there, unchanged
    assert b["endpoint"].enabled and b["endpoint"].previous_secret == ""
    assert b["endpoint"].deliveries.count() == 1


def test_staff_of_another_business_get_404_or_403_never_b_objects(teammate, b_objects):
    client = client_for(teammate)
    for _, build in OBJECT_URLS:
        assert client.post(build(b_objects)).status_code in (403, 404)


def test_lists_show_only_my_business(owner_client, b_objects):
    members = owner_client.get("/settings/members/").content.decode()
    tokens = owner_client.get("/settings/tokens/").content.decode()
    assert "sid@beta.example" not in members
    assert "ivy@beta.example" not in members
    assert "B&#x27;s till" not in tokens and "B's till" not in tokens


def test_the_helper_reports_a_leak(owner_client, owner):
    with pytest.raises(AssertionError, match="answered 200"):
        assert_404_for_outsider(owner_client, ["/settings/members/"])
