"""Background work for real: a Celery worker consuming from the configured broker (Redis in CI,
Kombu's in-memory broker without REDIS_URL), and two sweeps racing on PostgreSQL."""

import threading
import time

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection, connections
from django.utils import timezone

from accounts.mail import email_queue, email_send_queued
from accounts.models import OutgoingEmail
from feedback.models import Heartbeat


def _wait_for(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_sweeps_sent_through_the_broker(settings):
    from celery.contrib.testing.worker import start_worker

    from accounts.tasks import send_queued_emails
    from feedback.celery import app
    from feedback.tasks import heartbeat

    email_queue(
        key="worker:1", kind="test", to="pat@example.com", template="test", context={"n": 7}
    )
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        heartbeat.delay()
        assert _wait_for(lambda: Heartbeat.objects.filter(name="beat").exists())
        send_queued_emails.delay()
        assert _wait_for(lambda: OutgoingEmail.objects.filter(sent_at__isnull=False).exists())
        heartbeat.delay()  # safe to run twice: the same row counts up
        assert _wait_for(lambda: Heartbeat.objects.get(name="beat").count == 2)
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert [m.to for m in mail.outbox] == [["pat@example.com"]]
    assert "Test message 7" in mail.outbox[0].subject


class SlowBackend(LocmemBackend):
    """Hands messages over slowly, so two sweeps really overlap."""

    def send_messages(self, messages):
        time.sleep(0.02 * len(messages))
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_racing_never_send_an_email_twice(settings):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED row claiming is what is under test; CI runs it on PostgreSQL")
    settings.MAILERS = {"default": {"BACKEND": "tests.test_worker.SlowBackend"}}
    for n in range(40):
        email_queue(
            key=f"race:{n}", kind="test", to=f"p{n}@example.com", template="test", context={"n": n}
        )
    start = threading.Barrier(2)
    sent = []

    def sweep():
        start.wait()
        try:
            while count := email_send_queued(batch=7, now=timezone.now()):
                sent.append(count)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    recipients = [m.to[0] for m in mail.outbox]
    assert sum(sent) == 40
    assert len(recipients) == 40
    assert len(set(recipients)) == 40
    assert not OutgoingEmail.objects.queued().exists()
