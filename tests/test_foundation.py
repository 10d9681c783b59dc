import json

import pytest
from django.core import mail
from django.core.management import call_command

from accounts.mail import email_queue, email_send_queued
from accounts.models import ApiToken, Membership, OutgoingEmail, User


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
    call_command("demo", "--json")
    first = json.loads(capsys.readouterr().out)
    call_command("demo", "--json")
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
    call_command("demo", "--json")
    demo = json.loads(capsys.readouterr().out)
    assert client.login(email=demo["owner"]["email"], password=demo["owner"]["password"])
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/dashboard/"
    assert response.status_code == 200


def test_a_queued_email_is_sent_once_by_the_sweep(db):
    email_queue(key="t:1", kind="test", to="pat@example.com", template="test", context={"n": 1})
    email_queue(key="t:1", kind="test", to="pat@example.com", template="test", context={"n": 1})
    assert OutgoingEmail.objects.count() == 1
    assert email_send_queued() == 1
    assert email_send_queued() == 0
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["pat@example.com"]


@pytest.mark.parametrize(
    "to", ["Pat\r\nBcc: victim@example.com", "pat@example.com\r\nX-Injected: 1"]
)
def test_header_injection_never_reaches_the_headers(db, to):
    email_queue(key=f"t:{to}", kind="test", to=to, template="test", context={"n": 1})
    email_send_queued()
    message = mail.outbox[0].message()
    assert "X-Injected" not in message
    assert "Bcc" not in message
