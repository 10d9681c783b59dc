"""A worker killed while sending: the outbox commits each email's row and lease before it
leaves, and marks it sent right after, so a crash repeats at most the one message in flight,
under the same Message-ID, and loses nothing."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone

from accounts.mail import CLAIM_LEASE, email_build, email_send_batch, email_send_queued
from accounts.models import OutgoingEmail

pytestmark = pytest.mark.django_db(transaction=True)


class Killed(BaseException):
    """What SIGKILL looks like from inside: nothing after it runs, not even ``except``."""


class DyingBackend(EmailBackend):
    """Accepts messages (the provider has them) until the nth, which it accepts and then the
    worker dies before anyone hears back."""

    die_at = 5
    handed = 0

    def send_messages(self, messages):
        sent = super().send_messages(messages)
        DyingBackend.handed += len(messages)
        if DyingBackend.handed == DyingBackend.die_at:
            raise Killed
        return sent


def built(n):
    return email_build(
        key=f"crash:{n}", kind="test", to=f"p{n}@example.com", template="test", context={"n": n}
    )


def message_ids():
    return [m.extra_headers["Message-ID"] for m in mail.outbox]


def test_it_repeats_only_the_message_in_flight_with_the_same_message_id(settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.accounts.test_outbox_crash.DyingBackend"}}
    DyingBackend.handed = 0
    with pytest.raises(Killed):
        email_send_batch([built(n) for n in range(20)], now=timezone.now())
    # Every row was committed before the first send; the four before the crash are marked.
    assert OutgoingEmail.objects.count() == 20
    assert OutgoingEmail.objects.filter(sent_at__isnull=False).count() == 4

    # Sweeps before the dead worker's lease ends leave its rows alone…
    assert email_send_queued(now=timezone.now()) == 0
    # …then the next sweep sends the rest, the one in flight included.
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    assert email_send_queued(now=timezone.now() + CLAIM_LEASE + timedelta(seconds=1)) == 16

    counts = Counter(message_ids())
    assert len(mail.outbox) == 21 and len(counts) == 20
    (twice,) = [mid for mid, n in counts.items() if n == 2]
    assert twice == mail.outbox[4].extra_headers["Message-ID"]
    assert OutgoingEmail.objects.filter(sent_at=None).count() == 0


def test_a_message_id_is_the_same_on_every_try_and_differs_per_key():
    from accounts.mail import message_id

    assert message_id("invitation:1") == message_id("invitation:1")
    assert message_id("invitation:1") != message_id("invitation:2")
    assert message_id("invitation:1").endswith("@localhost>")
