"""Shared pieces for the actions tests: a touchpoint with the stock survey, and a way to make
a submitted response and route it."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from actions.routing import response_route
from tests.factories import make_customer, make_invitation, make_response, make_touchpoint

# A Wednesday morning in London in winter (GMT = UTC): deadlines are easy to read.
WEDNESDAY_10AM = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)


@pytest.fixture
def touchpoint(org, owner):
    return make_touchpoint(org, default_owner=owner)


@pytest.fixture
def respond(touchpoint):
    """respond(answers, verbatim=..., staff=..., customer=...) -> a submitted Response."""

    def make(answers=None, verbatim="", staff=None, customer=None, consent=False, tp=None):
        invitation = make_invitation(tp or touchpoint, customer=customer, staff=staff)
        return make_response(invitation, answers=answers, verbatim=verbatim, consent=consent)

    return make


@pytest.fixture
def routed(respond):
    """routed(answers, ...) -> the Action the response opened (or None)."""

    def make(answers=None, now=None, **kwargs):
        response = respond(answers, **kwargs)
        return response_route(response_id=response.pk, now=now or timezone.now())

    return make


__all__ = ["WEDNESDAY_10AM", "make_customer"]
