"""The invitation sweep under faults: a worker killed mid-send, a row nobody can read."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts.mail import CLAIM_LEASE, email_send_queued
from accounts.models import OutgoingEmail
from surveys.models import Invitation
from surveys.sending import invitations_send_due
from tests.accounts.test_outbox_crash import DyingBackend, Killed
from tests.factories import make_invitation


def due(touchpoint, now, **kw):
    return make_invitation(
        touchpoint,
        status=Invitation.Status.SCHEDULED,
        sent_at=None,
        survey_version=None,
        due_at=now - timedelta(minutes=1),
        occurred_at=now - timedelta(hours=1),
        **kw,
    )


@pytest.mark.django_db(transaction=True)
def test_a_killed_sweep_loses_nobody_and_repeats_at_most_one(settings, touchpoint):
    now = timezone.now()
    for _ in range(12):
        due(touchpoint, now)
    settings.MAILERS = {"default": {"BACKEND": "tests.accounts.test_outbox_crash.DyingBackend"}}
    DyingBackend.handed, DyingBackend.die_at = 0, 7
    try:
        with pytest.raises(Killed):
            invitations_send_due(now=now)
    finally:
        DyingBackend.die_at = 5
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    later = now + CLAIM_LEASE + timedelta(seconds=1)
    invitations_send_due(now=later)
    email_send_queued(now=later)

    recipients = Counter(m.to[0] for m in mail.outbox)
    assert len(recipients) == 12  # nobody lost
    assert sum(recipients.values()) == 13  # the one in flight twice, nobody else
    assert len({m.extra_headers["Message-ID"] for m in mail.outbox}) == 12
    assert Invitation.objects.filter(status="sent").count() == 12


def _make_unreadable(invitation):
    """Store a due time the database accepts but Python can't read: what the API accepted
    for ``occurred_at: "0001-01-01T00:30:00+01:00"`` before it checked dates."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            value = "0001-01-01T00:30:00+01:00"
        else:
            value = "0000-12-31 23:30:00"
        cursor.execute(
            "UPDATE surveys_invitation SET due_at = %s WHERE id = %s", [value, invitation.pk]
        )


@pytest.mark.django_db
def test_one_unreadable_row_is_failed_alone_and_the_owners_are_told(touchpoint, owner):
    now = timezone.now()
    good = [due(touchpoint, now) for _ in range(5)]
    poison = due(touchpoint, now)
    _make_unreadable(poison)

    assert invitations_send_due(now=now) == 5
    assert {m.to[0] for m in mail.outbox} >= {i.customer.email for i in good}
    failed = Invitation.objects.get(pk=poison.pk)
    assert failed.status == Invitation.Status.FAILED
    assert "could not be read" in failed.last_error
    alert = OutgoingEmail.objects.get(kind="invitation-failed")
    assert alert.to == owner.user.email and alert.sent_at is not None
    # The next sweep is not stuck on it, and the row is readable again for the owner's page.
    later = [due(touchpoint, now) for _ in range(2)]
    assert invitations_send_due(now=now) == 2
    assert {i.customer.email for i in later} <= {m.to[0] for m in mail.outbox}


@pytest.mark.django_db
def test_a_row_whose_email_cannot_be_built_does_not_stop_the_batch(touchpoint, monkeypatch):
    from surveys import sending

    now = timezone.now()
    rows = [due(touchpoint, now) for _ in range(4)]
    real = sending._invitation_email

    def broken_for_second(invitation, *args, **kwargs):
        if invitation.pk == rows[1].pk:
            raise ValueError("year 10000 is out of range")
        return real(invitation, *args, **kwargs)

    monkeypatch.setattr(sending, "_invitation_email", broken_for_second)
    assert invitations_send_due(now=now) == 3
    failed = Invitation.objects.get(pk=rows[1].pk)
    assert failed.status == "failed" and "out of range" in failed.last_error
