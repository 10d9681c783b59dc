"""Deliverability on the dashboard: the last 30 days' survey emails per touchpoint, what came
back about them, and a warning when complaints or bounces pass what mailbox providers take."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import OutgoingEmail
from feedback.queries import deliverability
from tests.factories import make_invitation, make_touchpoint

pytestmark = pytest.mark.django_db

_seq = iter(range(10**6))


def survey_emails(
    touchpoint, n, *, bounced=0, complained=0, days_ago=1, kind="invitation", bare=False
):
    """``n`` sent survey emails for ``touchpoint``, the first ``bounced`` of them bounced and
    the next ``complained`` marked as spam. ``bare``: no invitation rows behind them (fast,
    for thousands; they count in the totals under no touchpoint)."""
    sent_at = timezone.now() - timedelta(days=days_ago)
    rows = []
    for i in range(n):
        invitation = _Bare(next(_seq)) if bare else make_invitation(touchpoint)
        prefix, template = (
            ("invitation", "survey-invitation")
            if kind == "invitation"
            else ("invitation-reminder", "survey-reminder")
        )
        rows.append(
            OutgoingEmail(
                org=touchpoint.org,
                key=f"{prefix}:{invitation.pk}",
                kind=template,
                to=f"c{invitation.pk}@example.com",
                from_email="Alpha <heard@localhost>",
                subject="How did we do?",
                body_text="…",
                sent_at=sent_at,
                bounced_at=sent_at if i < bounced else None,
                complained_at=sent_at if bounced <= i < bounced + complained else None,
            )
        )
    OutgoingEmail.objects.bulk_create(rows)


class _Bare:
    def __init__(self, pk):
        self.pk = 10**9 + pk


@pytest.fixture
def repair(org):
    return make_touchpoint(org, slug="repair", name="Repair")


@pytest.fixture
def sale(org):
    return make_touchpoint(org, slug="sale", name="Sale")


def test_it_counts_sent_bounced_and_complaints_per_touchpoint_in_one_query(
    org, repair, sale, other_org, django_assert_num_queries
):
    survey_emails(repair, 20, bounced=2, complained=1)
    survey_emails(repair, 5, kind="reminder")
    survey_emails(sale, 10, bounced=1)
    survey_emails(sale, 7, bounced=7, days_ago=31)  # older than the window
    # Not survey emails: a notice to staff that bounced, and another business's survey email.
    OutgoingEmail.objects.create(
        org=org,
        key=f"n:{next(_seq)}",
        kind="action-overdue",
        to="bob@alpha.example",
        from_email="x",
        subject="s",
        body_text="b",
        sent_at=timezone.now(),
        bounced_at=timezone.now(),
    )
    survey_emails(make_touchpoint(other_org, slug="x"), 3, bounced=3)
    with django_assert_num_queries(1):
        total, rows = deliverability(org, now=timezone.now(), touchpoints=[repair, sale])
    assert [(r.name, r.sent, r.bounced, r.complained) for r in rows] == [
        ("Repair", 25, 2, 1),
        ("Sale", 10, 1, 0),
    ]
    assert (total.sent, total.bounced, total.complained) == (35, 3, 1)
    assert rows[0].bounce_percent == "8.0" and rows[0].complaint_percent == "4.00"
    only_sale, rows = deliverability(org, now=timezone.now(), touchpoints=[sale], touchpoint=sale)
    assert (only_sale.sent, only_sale.bounced) == (10, 1) and len(rows) == 1


@pytest.mark.parametrize(
    ("sent", "bounced", "complained", "warns"),
    [
        (2000, 100, 2, False),  # exactly 5 % bounced and 0.1 % complaints: at the limit
        (2000, 101, 0, True),  # just past 5 % bounced
        (2000, 0, 3, True),  # 0.15 % complaints
        (1000, 0, 1, False),  # 0.1 % exactly
    ],
)
def test_the_banner_shows_past_the_limits(owner_client, repair, sent, bounced, complained, warns):
    survey_emails(repair, sent, bounced=bounced, complained=complained, bare=True)
    html = owner_client.get(reverse("feedback:dashboard")).content.decode()
    assert ("data-deliverability-banner" in html) is warns
    if warns:
        assert "Check the addresses you send" in html and "remove stale" in html


def test_the_dashboard_shows_the_table(owner_client, repair):
    survey_emails(repair, 4, bounced=1)
    html = owner_client.get(reverse("feedback:dashboard")).content.decode()
    assert "Survey emails, last 30 days" in html
    assert '<th scope="row">Repair</th><td class="num">4</td><td class="num">25.0%' in html
    assert "data-deliverability-banner" in html and "25.0% of your survey emails bounced" in html
