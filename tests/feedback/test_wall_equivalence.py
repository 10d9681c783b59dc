"""The wall cache's hand-written check (feedback.wallcache._check) against the plain ORM
queries it stands for, over the same data."""

import uuid

import pytest
from django.utils import timezone

from accounts.models import Organisation
from feedback import wallcache
from feedback.models import WallEntry, WallState
from feedback.services import wall_entry_publish
from surveys.models import Response
from tests.feedback.helpers import make_done_consented


def plain_check(slug: str, response_ids: list[int]) -> tuple | None:
    """What ``wallcache._check`` answers, in plain ORM queries."""
    org = Organisation.objects.filter(slug=slug, wall_enabled=True).first()
    if org is None:
        return None
    state = WallState.objects.filter(org=org).first()
    quotable = Response.objects.filter(
        pk__in=response_ids, consent_to_quote=True, consent_withdrawn_at=None
    ).count()
    live = WallEntry.objects.filter(response__in=response_ids, unpublished_at=None).count()
    count = len(response_ids)
    fingerprint = (
        org.pk,
        org.code.hex,
        org.name,
        org.brand_colour,
        str(org.logo or ""),
        org.default_language,
    )
    return fingerprint, state.version if state else "", quotable != count or live != count


@pytest.fixture
def wall(org, owner):
    org.wall_enabled = True
    org.save()
    ids = []
    for n in range(3):
        action, response = make_done_consented(org, email=f"wall{n}@example.com")
        wall_entry_publish(
            action=action,
            response=response,
            quote=response.verbatim,
            what_we_did="Fixed it.",
            member=owner,
            now=timezone.now(),
        )
        ids.append(response.pk)
    return ids


def _states(org, ids):
    """The same wall in each state the check must tell apart."""
    yield "as published", org.slug, ids
    yield "no responses on the page", org.slug, []
    yield "an unknown slug", "no-such-wall", ids
    Response.objects.filter(pk=ids[0]).update(consent_withdrawn_at=timezone.now())
    yield "a consent withdrawn", org.slug, ids
    WallEntry.objects.filter(response_id=ids[1]).update(unpublished_at=timezone.now())
    yield "an entry unpublished", org.slug, ids
    Organisation.objects.filter(pk=org.pk).update(name="Renamed", brand_colour="#112233")
    WallState.objects.filter(org=org).update(version=uuid.uuid4().hex)
    yield "renamed, new version", org.slug, ids
    Organisation.objects.filter(pk=org.pk).update(wall_enabled=False)
    yield "the wall switched off", org.slug, ids


def test_it_answers_exactly_what_the_plain_orm_queries_answer(org, wall):
    assert plain_check(org.slug, wall)[2] is False  # a fresh wall is not stale
    for state, slug, ids in _states(org, wall):
        assert wallcache._check(slug, ids) == plain_check(slug, ids), state
