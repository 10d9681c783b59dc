import os
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts.models import OutgoingEmail
from surveys.models import Customer, Invitation
from surveys.sending import invitations_send_due
from tests.factories import make_invitation

pytestmark = pytest.mark.django_db


def due_invitation(touchpoint, staff=None, **kw):
    now = timezone.now()
    return make_invitation(
        touchpoint,
        staff=staff,
        status=Invitation.Status.SCHEDULED,
        sent_at=None,
        survey_version=None,
        due_at=now - timedelta(minutes=1),
        occurred_at=now - timedelta(hours=1),
        **kw,
    )


def test_it_sends_a_due_invitation_once(touchpoint, teammate):
    invitation = due_invitation(touchpoint, staff=teammate)
    assert invitations_send_due(now=timezone.now()) == 1
    assert invitations_send_due(now=timezone.now()) == 0
    assert len(mail.outbox) == 1
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert invitation.survey_version == touchpoint.survey.current_version()
    assert invitation.reminder_due_at is not None
    assert Customer.objects.get().last_surveyed_at == invitation.sent_at
    assert OutgoingEmail.objects.get().key == f"invitation:{invitation.pk}"


def test_a_touchpoint_switched_off_after_ingest_sends_nothing(touchpoint):
    invitation = due_invitation(touchpoint)
    touchpoint.active = False
    touchpoint.save(update_fields=["active"])
    assert invitations_send_due(now=timezone.now()) == 0
    assert len(mail.outbox) == 0
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SKIPPED
    assert invitation.skip_reason == Invitation.SkipReason.NO_SURVEY


def test_a_touchpoint_switched_off_after_sending_gets_no_reminder(touchpoint):
    invitation = due_invitation(touchpoint)
    invitations_send_due(now=timezone.now())
    invitation.refresh_from_db()
    touchpoint.active = False
    touchpoint.save(update_fields=["active"])
    assert invitations_send_due(now=invitation.reminder_due_at + timedelta(minutes=1)) == 0
    assert len(mail.outbox) == 1


def test_the_email_has_both_parts_branding_and_one_click_links(org, touchpoint, teammate):
    org.reply_to = "hello@alpha.example"
    org.save()
    invitation = due_invitation(touchpoint, staff=teammate)
    invitations_send_due(now=timezone.now())
    message = mail.outbox[0]
    html = message.alternatives[0].content
    assert message.to == [invitation.customer.email]
    # Replies come back to Heard, as the customer's words on their response.
    (reply_to,) = message.reply_to
    assert reply_to.startswith("r-") and reply_to.endswith("@reply.localhost")
    assert "Alpha Bikes" in message.from_email
    assert "Was what you needed in stock?" in message.subject
    base = f"http://testserver/s/{invitation.token}/"
    question = touchpoint.survey.current_version().questions.first()
    for value in ("yes", "no"):
        link = f"{base}?q={question.key}&a={value}"
        assert link in message.body
        assert link.replace("&", "&amp;") in html
    assert "Bob" in message.body  # the staff member's first name
    assert "Pat" in message.body  # the customer's first name
    assert org.brand_colour in html
    assert "<img" not in html  # no tracking pixels


def test_the_email_carries_rfc_8058_unsubscribe_headers(touchpoint):
    invitation = due_invitation(touchpoint)
    invitations_send_due(now=timezone.now())
    headers = mail.outbox[0].message()
    url = f"http://testserver/s/{invitation.token}/unsubscribe/"
    assert headers["List-Unsubscribe"] == f"<{url}>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in mail.outbox[0].body


def test_hostile_names_never_become_headers(touchpoint, hostile_inputs):
    from tests.factories import make_customer

    for index, name in enumerate(hostile_inputs["header_injection"]):
        customer = make_customer(touchpoint.org, email=f"h{index}@example.com", name=name)
        due_invitation(touchpoint, customer=customer)
    invitations_send_due(now=timezone.now())
    assert len(mail.outbox) == len(hostile_inputs["header_injection"])
    for message in mail.outbox:
        raw = message.message().as_string()
        assert "\nBcc:" not in raw and "\nX-Injected" not in raw


def test_a_sweep_records_a_broken_email_and_moves_on(touchpoint, monkeypatch):
    first = due_invitation(touchpoint)
    second = due_invitation(touchpoint)
    calls = {"n": 0}
    from surveys import sending

    real = sending.email_build

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("template exploded")
        return real(**kwargs)

    monkeypatch.setattr(sending, "email_build", flaky)
    assert invitations_send_due(now=timezone.now()) == 1
    statuses = {i.pk: i.status for i in Invitation.objects.all()}
    assert sorted(statuses.values()) == ["failed", "sent"]
    assert Invitation.objects.get(status="failed").last_error == "template exploded"
    assert {first.pk, second.pk} == set(statuses)
    assert len(mail.outbox) == 1


def test_a_refused_delivery_mid_batch_stays_on_its_outbox_row(touchpoint, settings):
    from tests.factories import make_customer

    settings.MAILERS = {"default": {"BACKEND": "tests.test_foundation.RefusingBackend"}}
    refused = make_customer(touchpoint.org, email="refuse@example.com", name="Rae")
    invitations = [
        due_invitation(touchpoint),
        due_invitation(touchpoint, customer=refused),
        due_invitation(touchpoint),
    ]
    assert invitations_send_due(now=timezone.now()) == 3
    # Every invitation counts as sent: the outbox owns the delivery and retries the refused one.
    assert Invitation.objects.filter(status="sent").count() == 3
    assert len(mail.outbox) == 2
    row = OutgoingEmail.objects.get(key=f"invitation:{invitations[1].pk}")
    assert row.sent_at is None and row.attempts == 1 and "No such user" in row.last_error
    assert list(OutgoingEmail.objects.queued()) == [row]


def test_a_sweep_costs_a_few_queries_per_batch_and_one_per_email(
    touchpoint, django_assert_max_num_queries
):
    for _ in range(30):
        due_invitation(touchpoint)
    # The one per email is the UPDATE marking it sent right after the hand-over, in its own
    # transaction: what keeps a crash from sending more than the one message in flight again.
    with django_assert_max_num_queries(25 + 30):
        assert invitations_send_due(now=timezone.now()) == 30
    assert len(mail.outbox) == 30


on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SKIP LOCKED races need PostgreSQL"
)


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_racing_never_send_twice(touchpoint):
    from django.db import connections

    invitations = [due_invitation(touchpoint) for _ in range(40)]
    barrier = threading.Barrier(2)
    results = []

    def sweep():
        try:
            barrier.wait()
            results.append(invitations_send_due(now=timezone.now(), batch=5))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == len(invitations)
    assert len(mail.outbox) == len(invitations)
    assert OutgoingEmail.objects.count() == len(invitations)
    assert Invitation.objects.filter(status="sent").count() == len(invitations)


@on_postgres
@pytest.mark.worker
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="a real worker needs REDIS_URL")
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_running_sweeps_in_parallel_sends_each_once(touchpoint, settings):
    from celery.contrib.testing.worker import start_worker

    from feedback.celery import app
    from surveys.tasks import send_due_invitations

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    invitations = [due_invitation(touchpoint) for _ in range(30)]
    app.conf.broker_url = os.environ["REDIS_URL"]
    with start_worker(app, concurrency=4, pool="threads", perform_ping_check=False):
        results = [send_due_invitations.delay() for _ in range(4)]
        sent = sum(r.get(timeout=60) for r in results) if app.conf.result_backend else None
        deadline = timezone.now() + timedelta(seconds=60)
        while timezone.now() < deadline:
            if Invitation.objects.filter(status="scheduled").count() == 0:
                break
            threading.Event().wait(0.2)
    assert Invitation.objects.filter(status="sent").count() == len(invitations)
    assert OutgoingEmail.objects.count() == len(invitations)
    assert OutgoingEmail.objects.filter(sent_at__isnull=False).count() == len(invitations)
    if sent is not None:
        assert sent == len(invitations)


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_never_ask_one_customer_twice_within_the_fatigue_days(touchpoint, monkeypatch):
    from django.db import connections

    from surveys import sending
    from tests.factories import make_customer

    now = timezone.now()
    customers = [make_customer(touchpoint.org) for _ in range(5)]
    # Each customer has two due invitations, in different batches of five.
    for round_ in range(2):
        for index, customer in enumerate(customers):
            make_invitation(
                touchpoint,
                customer=customer,
                status=Invitation.Status.SCHEDULED,
                sent_at=None,
                survey_version=None,
                occurred_at=now - timedelta(hours=1),
                due_at=now - timedelta(minutes=30 - round_ * 10 - index),
            )
    first_inside, second_done = threading.Event(), threading.Event()
    record = sending.email_record

    def held_record(emails, **kwargs):
        # The first sweep holds its transaction open while the second one claims.
        if threading.current_thread().name == "first":
            first_inside.set()
            second_done.wait(10)
        return record(emails, **kwargs)

    monkeypatch.setattr(sending, "email_record", held_record)

    def first():
        try:
            invitations_send_due(now=now, batch=5)
        finally:
            first_inside.set()
            connections.close_all()

    def second():
        try:
            first_inside.wait(10)
            invitations_send_due(now=now, batch=5)
        finally:
            second_done.set()
            connections.close_all()

    threads = [threading.Thread(target=first, name="first"), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    invitations_send_due(now=now, batch=5)  # whatever the second sweep left
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.email for c in customers)
    assert Invitation.objects.filter(status="sent").count() == 5
    assert Invitation.objects.filter(skip_reason=Invitation.SkipReason.FATIGUE).count() == 5
