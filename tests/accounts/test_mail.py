from datetime import timedelta

from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from accounts.mail import MAX_ATTEMPTS, email_queue, email_send_queued, retry_delay
from accounts.models import OutgoingEmail


class DownBackend(BaseEmailBackend):
    """The provider is unreachable."""

    def send_messages(self, email_messages):
        raise ConnectionError("provider down")


def queue():
    return email_queue(
        key="t:retry", kind="test", to="pat@example.com", template="test", context={"n": 1}
    )


def test_it_backs_off_exponentially_up_to_two_hours():
    waits = [retry_delay(n) for n in range(1, MAX_ATTEMPTS + 1)]
    assert waits[:5] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]
    assert max(waits) == timedelta(hours=2)
    assert waits == sorted(waits)
    # Every wait but the one after the last attempt: how long an outage it rides out.
    assert timedelta(hours=20) <= sum(waits[:-1], timedelta()) <= timedelta(hours=26)


def test_it_retries_a_failing_email_only_when_due(db, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.accounts.test_mail.DownBackend"}}
    queue()
    now = timezone.now()
    assert email_send_queued(now=now) == 0
    row = OutgoingEmail.objects.get(key="t:retry")
    first_wait = row.next_attempt_at
    assert row.attempts == 1
    assert now + timedelta(minutes=1) <= first_wait <= timezone.now() + timedelta(minutes=1)
    # The 10-second sweeps before it is due leave it alone.
    for seconds in (10, 20, 50):
        email_send_queued(now=now + timedelta(seconds=seconds))
    assert OutgoingEmail.objects.get(key="t:retry").attempts == 1
    email_send_queued(now=first_wait)
    row.refresh_from_db()
    assert row.attempts == 2 and row.next_attempt_at == first_wait + timedelta(minutes=2)
    email_send_queued(now=first_wait + timedelta(minutes=1))
    assert OutgoingEmail.objects.get(key="t:retry").attempts == 2


def test_the_wait_counts_from_the_failure_not_from_the_start_of_the_sweep(db, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.accounts.test_mail.DownBackend"}}
    queue()
    # A sweep that started five minutes ago (it had a long queue to work through) fails it
    # now: counted from the sweep's start, the retry would be four minutes overdue already.
    email_send_queued(now=timezone.now() - timedelta(minutes=5))
    row = OutgoingEmail.objects.get(key="t:retry")
    assert row.next_attempt_at >= timezone.now() + timedelta(seconds=55)


def test_it_survives_hours_of_outage_and_gives_up_after_about_a_day(db, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.accounts.test_mail.DownBackend"}}
    queue()
    start = now = timezone.now()
    # A sweep every 10 seconds for the first two hours.
    while now < start + timedelta(hours=2):
        email_send_queued(now=now)
        now += timedelta(seconds=10)
    row = OutgoingEmail.objects.get(key="t:retry")
    assert row.failed_at is None and row.attempts == 7  # at 0, 1, 3, 7, 15, 31 and 63 minutes
    # The provider stays down: keep sweeping until the email is given up on.
    while row.failed_at is None:
        now = row.next_attempt_at
        email_send_queued(now=now)
        row.refresh_from_db()
    assert row.attempts == MAX_ATTEMPTS
    assert timedelta(hours=20) <= row.failed_at - start <= timedelta(hours=26)


def test_a_retried_email_goes_out_once_the_provider_is_back(db, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.accounts.test_mail.DownBackend"}}
    queue()
    now = timezone.now()
    email_send_queued(now=now)
    retry_at = OutgoingEmail.objects.get(key="t:retry").next_attempt_at
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    assert email_send_queued(now=now + timedelta(seconds=30)) == 0
    assert email_send_queued(now=retry_at) == 1
    row = OutgoingEmail.objects.get(key="t:retry")
    assert row.sent_at is not None and row.attempts == 2
    assert len(mail.outbox) == 1
