import json
import smtplib
import threading
import time
from email import message_from_bytes
from email.utils import parseaddr

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from accounts.mail import email_build, email_queue, email_send_batch, email_send_queued
from accounts.models import ApiToken, Membership, Organisation, OutgoingEmail, User
from tests.hostile import hostile_strings


def test_it_answers_healthz_with_database_and_broker(client, db, settings):
    settings.CELERY_BROKER_URL = "filesystem://"
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"


def test_healthz_reports_unreachable_broker_as_503(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_healthz_rejects_post(client, db):
    assert client.post("/healthz").status_code == 405


def test_demo_is_idempotent_and_prints_json(db, capsys):
    call_command("demo", "--json", "--force")
    first = json.loads(capsys.readouterr().out)
    call_command("demo", "--json", "--force")
    second = json.loads(capsys.readouterr().out)
    assert first == second
    assert set(first) >= {"org_slug", "owner", "staff", "api_token", "touchpoints"}
    assert len(first["staff"]) == 2
    assert User.objects.filter(email__endswith="@spokes.example").count() == 3
    assert Membership.objects.filter(org__slug=first["org_slug"]).count() == 3
    token = ApiToken.authenticate(first["api_token"])
    assert token is not None and token.org.slug == first["org_slug"]
    assert ApiToken.objects.count() == 1


def test_the_demo_owner_can_log_in_and_reach_the_dashboard(client, db, capsys):
    call_command("demo", "--json", "--force")
    demo = json.loads(capsys.readouterr().out)
    assert client.login(email=demo["owner"]["email"], password=demo["owner"]["password"])
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/dashboard/"
    assert response.status_code == 200


def test_a_queued_email_is_sent_once_by_the_sweep(db):
    email_queue(key="t:1", kind="test", to="pat@example.com", template="test", context={"n": 1})
    email_queue(key="t:1", kind="test", to="pat@example.com", template="test", context={"n": 1})
    assert OutgoingEmail.objects.count() == 1
    assert email_send_queued(now=timezone.now()) == 1
    assert email_send_queued(now=timezone.now()) == 0
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["pat@example.com"]


@pytest.mark.parametrize(
    "to", ["Pat\r\nBcc: victim@example.com", "pat@example.com\r\nX-Injected: 1"]
)
def test_header_injection_never_reaches_the_headers(db, to):
    email_queue(key=f"t:{to}", kind="test", to=to, template="test", context={"n": 1})
    email_send_queued(now=timezone.now())
    message = mail.outbox[0].message()
    assert "X-Injected" not in message
    assert "Bcc" not in message


class RefusingBackend(LocmemBackend):
    """Refuses any recipient whose address starts with "refuse", like a provider would."""

    def send_messages(self, messages):
        for message in messages:
            if message.to[0].startswith("refuse"):
                raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"No such user")})
        return super().send_messages(messages)


class SlowBackend(LocmemBackend):
    """Hands messages over slowly, so two batches really overlap."""

    def send_messages(self, messages):
        time.sleep(0.01 * len(messages))
        return super().send_messages(messages)


def built(n, to=None):
    return email_build(
        key=f"batch:{n}",
        kind="test",
        to=to or f"p{n}@example.com",
        template="test",
        context={"n": n},
    )


def test_a_batch_records_every_key_and_sends_in_a_few_round_trips_and_one_per_email(
    db, django_assert_max_num_queries
):
    # Savepoints, insert, claim; then one UPDATE per email marking it sent right after the
    # hand-over, so a crash repeats at most the one in flight.
    with django_assert_max_num_queries(8 + 20):
        outcome = email_send_batch([built(n) for n in range(20)], now=timezone.now())
    assert outcome.sent == [f"batch:{n}" for n in range(20)]
    assert [m.subject for m in mail.outbox] == [f"Test message {n}" for n in range(20)]
    assert OutgoingEmail.objects.filter(sent_at__isnull=False, attempts=1).count() == 20


def test_a_batch_never_sends_a_key_sent_before(db):
    email_send_batch([built(1)], now=timezone.now())
    email_queue(key="batch:2", kind="test", to="q@example.com", template="test", context={"n": 2})
    outcome = email_send_batch([built(1), built(2), built(3)], now=timezone.now())
    assert outcome.sent == ["batch:2", "batch:3"]
    assert outcome.elsewhere == ["batch:1"]
    assert [m.subject for m in mail.outbox] == [f"Test message {n}" for n in (1, 2, 3)]
    assert OutgoingEmail.objects.get(key="batch:2").to == "q@example.com"  # the queued row


def test_a_failure_in_the_middle_of_a_batch_is_recorded_on_that_row_only(db, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.test_foundation.RefusingBackend"}}
    emails = [built(0), built(1, to="refuse@example.com"), built(2)]
    outcome = email_send_batch(emails, now=timezone.now())
    assert outcome.sent == ["batch:0", "batch:2"]
    assert list(outcome.failed) == ["batch:1"]
    refused = OutgoingEmail.objects.get(key="batch:1")
    assert refused.sent_at is None and refused.failed_at is None and refused.attempts == 1
    assert "No such user" in refused.last_error
    for key in ("batch:0", "batch:2"):
        row = OutgoingEmail.objects.get(key=key)
        assert row.sent_at is not None and row.last_error == "" and row.attempts == 1
    assert [m.to for m in mail.outbox] == [["p0@example.com"], ["p2@example.com"]]
    assert OutgoingEmail.objects.queued().get() == refused  # the outbox sweep retries it


@pytest.mark.django_db(transaction=True)
def test_two_batches_racing_over_the_same_keys_send_each_email_once(settings):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED row claiming is what is under test; CI runs it on PostgreSQL")
    settings.MAILERS = {"default": {"BACKEND": "tests.test_foundation.SlowBackend"}}
    start = threading.Barrier(2)
    outcomes = []

    def sweep(numbers):
        start.wait()
        try:
            outcomes.append(email_send_batch([built(n) for n in numbers], now=timezone.now()))
        finally:
            connections.close_all()

    # Overlapping batches, one in reverse order: the shared keys 15..29 go out once.
    threads = [
        threading.Thread(target=sweep, args=(range(0, 30),)),
        threading.Thread(target=sweep, args=(range(44, 14, -1),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    subjects = [m.subject for m in mail.outbox]
    assert len(subjects) == 45
    assert len(set(subjects)) == 45
    assert sum(len(o.sent) for o in outcomes) == 45
    assert OutgoingEmail.objects.filter(sent_at__isnull=False).count() == 45


def test_the_outbox_builds_byte_for_byte_what_django_builds(hostile_inputs):
    import email.policy
    import re

    from django.core.mail import EmailMultiAlternatives

    from accounts.mail import _message

    def normalise(raw: bytes) -> bytes:  # the boundary and Date differ on every build
        return re.sub(rb"=+\d+==|Date: [^\r]*", b"", raw)

    for n, name in enumerate(["Pat", *hostile_inputs["unicode"][:5], "Zoë Ünal"]):
        outgoing = built(n, to=f"p{n}@example.com")
        outgoing.pk, outgoing.subject = n + 1, f"Hello {name}".replace("\x00", "")
        fast = _message(outgoing)
        plain = _message(outgoing)
        plain.__class__ = EmailMultiAlternatives
        smtp = email.policy.SMTP
        assert normalise(fast.message(policy=smtp).as_bytes()) == normalise(
            plain.message(policy=smtp).as_bytes()
        )


def test_the_development_backend_writes_each_email_to_its_own_eml_file(db, settings, tmp_path):
    settings.MAILERS = {
        "default": {"BACKEND": "accounts.mail.FileEmailBackend", "OPTIONS": {"file_path": tmp_path}}
    }
    for n in (1, 2):
        email_queue(
            key=f"file:{n}", kind="test", to="pat@example.com", template="test", context={"n": n}
        )
    assert email_send_queued(now=timezone.now()) == 2
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 2
    parsed = [message_from_bytes(f.read_bytes()) for f in files]
    assert sorted(m["Subject"] for m in parsed) == ["Test message 1", "Test message 2"]
    assert all(m["To"] == "pat@example.com" for m in parsed)


@pytest.mark.parametrize(
    "name",
    ["Bob\\", 'Spokes "&" Sprockets', "A, B <x@y.example>", *hostile_strings("header_injection")],
)
def test_the_from_header_keeps_the_sending_address_whatever_the_business_is_called(db, name):
    org = Organisation.objects.create(name=name, slug="odd-name")
    email_queue(
        key="from:1", kind="test", to="pat@example.com", template="test", context={"n": 1}, org=org
    )
    email_send_queued(now=timezone.now())
    message = mail.outbox[0].message()
    assert parseaddr(str(message["From"]))[1] == "heard@localhost"
    assert message["Bcc"] is None and message["X-Injected"] is None
