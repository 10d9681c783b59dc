"""The shared test base: three people, an owner and a teammate of one business and an
outsider who owns another, so every test can check that one business never sees another's
rows (docs/architecture.md, "Tenancy")."""

import pytest
from django.test import Client

from accounts.models import Membership, Organisation, User


def make_member(org: Organisation, email: str, role: str, name: str = "") -> Membership:
    user = User.objects.create_user(email=email, password="password", name=name)
    return Membership.objects.create(org=org, user=user, role=role)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits and the wall live in the cache: no test inherits another's counters."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def org(db):
    return Organisation.objects.create(name="Alpha Bikes", slug="alpha", timezone="Europe/London")


@pytest.fixture
def other_org(db):
    return Organisation.objects.create(name="Beta Books", slug="beta", timezone="America/New_York")


@pytest.fixture
def owner(org):
    return make_member(org, "alice@alpha.example", Membership.Role.OWNER, "Alice Archer")


@pytest.fixture
def teammate(org):
    return make_member(org, "bob@alpha.example", Membership.Role.STAFF, "Bob Baker")


@pytest.fixture
def outsider(other_org):
    return make_member(other_org, "olga@beta.example", Membership.Role.OWNER, "Olga Other")


def client_for(member: Membership) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.fixture
def owner_client(owner):
    return client_for(owner)


@pytest.fixture
def teammate_client(teammate):
    return client_for(teammate)


@pytest.fixture
def outsider_client(outsider):
    return client_for(outsider)


@pytest.fixture
def hostile_inputs():
    """The usual suspects from shared/testdata/hostile-inputs.json."""
    from tests.hostile import load_hostile_inputs

    return load_hostile_inputs()
