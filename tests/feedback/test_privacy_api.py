"""GET /api/v1/customers/<email>/export and DELETE /api/v1/customers/<email> (scope privacy)."""

import pytest
from django.test import Client

from accounts.models import AccessRecord, ApiToken
from accounts.privacy import address_hash
from surveys.models import Customer, Suppression
from tests.factories import make_customer, make_invitation, make_response, make_touchpoint

EMAIL = "mina.okafor@example.org"


@pytest.fixture
def customer(org):
    customer = make_customer(org, email=EMAIL, name="Mina Okafor")
    invitation = make_invitation(make_touchpoint(org), customer=customer)
    make_response(invitation, answers={0: False}, verbatim="Nobody rang me back.")
    return customer


def _call(method: str, path: str, raw: str):
    return getattr(Client(), method)(path, HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def raw(org, owner):
    return ApiToken.issue(org=org, name="DPO tool", created_by=owner, scopes=["privacy"])[1]


def test_it_exports_the_same_json_as_the_privacy_page(customer, raw):
    answer = _call("get", f"/api/v1/customers/{EMAIL}/export", raw)
    assert answer.status_code == 200
    data = answer.json()
    assert "about" in data
    assert data["customers"][0]["interactions"][0]["response"]["words"] == "Nobody rang me back."
    assert AccessRecord.objects.get().kind == AccessRecord.Kind.EXPORT


def test_it_erases_with_204_and_404s_an_address_never_seen(customer, org, raw):
    assert _call("delete", f"/api/v1/customers/{EMAIL}", raw).status_code == 204
    assert Customer.objects.get(pk=customer.pk).erased_at is not None
    assert Suppression.objects.filter(org=org, address_hash=address_hash(EMAIL)).exists()
    assert _call("delete", "/api/v1/customers/nobody@example.org", raw).status_code == 404
    assert _call("get", "/api/v1/customers/nobody@example.org/export", raw).status_code == 404
    record = AccessRecord.objects.get(kind=AccessRecord.Kind.ERASE)
    assert "DPO tool" in record.detail


def test_it_needs_the_privacy_scope(customer, org, owner):
    _token, read_only = ApiToken.issue(org=org, name="BI", created_by=owner, scopes=["read"])
    assert _call("delete", f"/api/v1/customers/{EMAIL}", read_only).status_code == 403
    assert _call("get", f"/api/v1/customers/{EMAIL}/export", read_only).status_code == 403
    # The read API's GET on the same path still answers.
    assert _call("get", f"/api/v1/customers/{EMAIL}", read_only).status_code == 200
    assert Customer.objects.get(pk=customer.pk).erased_at is None


def test_another_business_token_cant_reach_the_customer(customer, other_org, outsider):
    _token, theirs = ApiToken.issue(
        org=other_org, name="X", created_by=outsider, scopes=["privacy"]
    )
    assert _call("delete", f"/api/v1/customers/{EMAIL}", theirs).status_code == 404
    assert Customer.objects.get(pk=customer.pk).erased_at is None
