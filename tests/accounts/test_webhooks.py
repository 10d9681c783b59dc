"""Outbound webhooks: the event outbox, signing, retries, the address guard and the endpoint
switched off after three days of failures (accounts/hooks.py)."""

import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from accounts import hooks
from accounts.models import OrgEvent, OutgoingEmail, WebhookDelivery, WebhookEndpoint
from actions.services import action_close
from tests.factories import make_invitation, make_response, make_touchpoint
from tests.feedback.helpers import make_action


class Receiver:
    """A real HTTP server on 127.0.0.1 that answers from a script of (status, body) and
    records every request it gets."""

    def __init__(self, script=None, default=(200, b"ok")):
        self.script = list(script or [])
        self.default = default
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append((self.path, dict(self.headers), body))
                status, answer = receiver.script.pop(0) if receiver.script else receiver.default
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True


def _endpoint(org, owner, url, events=("action.closed",), now=None):
    return hooks.webhook_endpoint_create(
        org=org,
        kind="webhook",
        url=url,
        events=list(events),
        description="Our CRM",
        touchpoints=[],
        by=owner,
        now=now or timezone.now() - timedelta(minutes=1),
    )


def _open_action(org, owner):
    touchpoint = make_touchpoint(org, default_owner=owner)
    response = make_response(make_invitation(touchpoint), answers={0: False}, verbatim="Squeaky.")
    return make_action(org, response, owner=owner)


def test_it_sends_a_signed_action_closed_and_retries_until_the_receiver_takes_it(
    org, owner, allow_private
):
    action = _open_action(org, owner)
    script = [(500, b"down"), (500, b"still down"), (204, b"")]
    with Receiver(script) as receiver:
        endpoint, secret = _endpoint(org, owner, receiver.url)
        t0 = timezone.now()
        action_close(action=action, actor=owner, status="done", resolution="Oiled it.", now=t0)
        assert OrgEvent.objects.filter(type="action.closed").count() == 1

        hooks.webhooks_send_due(now=t0)
        hooks.webhooks_send_due(now=t0 + timedelta(seconds=30))  # backing off: nothing sent
        assert len(receiver.requests) == 1
        hooks.webhooks_send_due(now=t0 + timedelta(minutes=2))
        hooks.webhooks_send_due(now=t0 + timedelta(minutes=10))
        hooks.webhooks_send_due(now=t0 + timedelta(minutes=20))

    assert len(receiver.requests) == 3
    delivery = WebhookDelivery.objects.get()
    assert delivery.delivered_at is not None and delivery.attempts == 3
    ids = {headers["webhook-id"] for _, headers, _ in receiver.requests}
    assert ids == {delivery.webhook_id}
    _, headers, body = receiver.requests[-1]
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "action.closed" and payload["version"] == 1
    assert payload["data"]["action"]["code"] == str(action.code)
    assert payload["data"]["action"]["resolution"] == "Oiled it."
    assert payload["data"]["action"]["owner"]["name"] == "Alice Archer"
    assert "secret" not in body.decode() and secret not in body.decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(WebhookEndpoint.new_secret()).verify(body, headers)
    log = list(delivery.attempt_log.order_by("number"))
    assert [(a.number, a.status_code) for a in log] == [(1, 500), (2, 500), (3, 204)]
    assert log[0].response_excerpt == "down" and log[0].latency_ms >= 0
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_it_records_nothing_for_a_business_without_endpoints(org, owner):
    action = _open_action(org, owner)
    action_close(action=action, actor=owner, status="done", resolution="Fixed.", now=timezone.now())
    assert not OrgEvent.objects.exists()


def test_a_second_sweep_does_not_fan_an_event_out_twice(org, owner, allow_private):
    with Receiver() as receiver:
        _endpoint(org, owner, receiver.url)
        now = timezone.now()
        hooks.org_event_record(org=org, type="action.closed", payload={}, now=now)
        hooks.org_events_fan_out(now=now)
        OrgEvent.objects.update(fanned_out_at=None)  # as if a crash lost the mark
        hooks.org_events_fan_out(now=now)
        assert WebhookDelivery.objects.count() == 1


def test_it_only_fans_out_events_the_endpoint_chose(org, owner, allow_private):
    _endpoint(org, owner, "http://127.0.0.1:9/hook", events=["action.created"])
    now = timezone.now()
    hooks.org_event_record(org=org, type="action.closed", payload={}, now=now)
    hooks.org_events_fan_out(now=now)
    assert not WebhookDelivery.objects.exists()


def test_a_replay_is_a_new_delivery_with_its_own_id(org, owner, allow_private):
    with Receiver() as receiver:
        _endpoint(org, owner, receiver.url)
        now = timezone.now()
        hooks.org_event_record(org=org, type="action.closed", payload={"x": 1}, now=now)
        hooks.webhooks_send_due(now=now)
        first = WebhookDelivery.objects.get()
        replay = hooks.webhook_delivery_replay(delivery=first, now=now)
        hooks.webhooks_send_due(now=now)
    assert replay.kind == "replay" and replay.replay_of == first
    sent_ids = [headers["webhook-id"] for _, headers, _ in receiver.requests]
    assert sent_ids == [first.webhook_id, replay.webhook_id]
    assert receiver.requests[0][2] == receiver.requests[1][2]  # the same event


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://127.0.0.1:8/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_it_refuses_private_and_reserved_addresses(url):
    answer = hooks.http_post(url, b"{}", {})
    assert answer.status is None
    assert "not a public address" in answer.error


def test_it_refuses_a_hostname_that_resolves_to_a_private_address(monkeypatch):
    looked_up = []

    def fake_getaddrinfo(host, port, *args, **kwargs):
        looked_up.append(host)
        # One public and one private address: every address must pass.
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.20", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    answer = hooks.http_post("https://hooks.example.com/x", b"{}", {})
    assert looked_up == ["hooks.example.com"]
    assert "192.168.1.20" in answer.error and answer.status is None


def test_it_connects_to_the_address_it_checked_not_a_second_lookup(monkeypatch, allow_private):
    """DNS rebinding: the name is resolved once, and the connection goes to that address."""
    with Receiver() as receiver:
        calls = []
        real = socket.getaddrinfo

        def once_then_elsewhere(host, port, *args, **kwargs):
            calls.append(host)
            if host == "rebind.example":
                return real("127.0.0.1", port, *args, **kwargs)
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", once_then_elsewhere)
        answer = hooks.http_post(f"http://rebind.example:{receiver.port}/hook", b"{}", {})
    assert answer.ok
    assert calls.count("rebind.example") == 1
    assert receiver.requests[0][1]["Host"] == f"rebind.example:{receiver.port}"


def test_the_private_guard_holds_without_the_setting(settings):
    settings.DEBUG = False
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    with Receiver() as receiver:
        answer = hooks.http_post(receiver.url, b"{}", {})
    assert not receiver.requests and "not a public address" in answer.error


def test_a_redirect_is_not_followed(allow_private):
    with Receiver([(302, b"")]) as receiver:
        answer = hooks.http_post(receiver.url, b"{}", {})
    assert answer.status == 302 and not answer.ok
    assert [path for path, _, _ in receiver.requests] == ["/hook"]
    assert "Redirects are not followed" in answer.error


def test_a_body_over_64_kb_is_cut(allow_private):
    with Receiver([(200, b"x" * 1_000_000)]) as receiver:
        answer = hooks.http_post(receiver.url, b"{}", {})
    assert answer.ok
    assert answer.size == 64 * 1024 and answer.truncated
    assert answer.excerpt == "x" * 500


def test_both_secrets_sign_during_the_overlap_and_only_the_new_one_after(org, owner):
    endpoint, old = _endpoint(org, owner, "https://hooks.example.com/x")
    rotated_at = timezone.now()
    new = hooks.webhook_endpoint_rotate(endpoint=endpoint, now=rotated_at)
    endpoint.refresh_from_db()
    body = json.dumps({"type": "webhook.test"})
    for hours, verifying in ((1, [old, new]), (23, [old, new]), (25, [new])):
        with time_machine.travel(rotated_at + timedelta(hours=hours), tick=False):
            at = timezone.now()
            headers = hooks.webhook_headers(endpoint=endpoint, webhook_id="msg_1", body=body, at=at)
            assert len(headers["webhook-signature"].split(" ")) == len(verifying)
            for secret in verifying:
                assert Webhook(secret).verify(body, headers) == {"type": "webhook.test"}
            if old not in verifying:
                with pytest.raises(WebhookVerificationError):
                    Webhook(old).verify(body, headers)


def test_an_endpoint_failing_for_three_days_is_switched_off_and_owners_get_one_email(
    org, owner, teammate, allow_private
):
    t0 = timezone.now()
    endpoint, _ = _endpoint(org, owner, "http://127.0.0.1:9/closed-port", now=t0)
    for hour in range(0, 24 * 4, 6):
        now = t0 + timedelta(hours=hour)
        hooks.org_event_record(org=org, type="action.closed", payload={}, now=now)
        hooks.webhooks_send_due(now=now)
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert endpoint.disabled_at - endpoint.failing_since >= timedelta(days=3)
    assert "3 days" in endpoint.disabled_reason
    emails = OutgoingEmail.objects.filter(kind="webhook_disabled")
    assert [e.to for e in emails] == [owner.user.email]
    from accounts.mail import email_send_queued

    email_send_queued(now=timezone.now())
    assert len(mail.outbox) == 1 and "switched off" in mail.outbox[0].subject
    # Switched off, nothing more goes out, and nothing more is recorded.
    attempts = sum(d.attempts for d in WebhookDelivery.objects.all())
    later = t0 + timedelta(days=5)
    hooks.org_event_record(org=org, type="action.closed", payload={}, now=later)
    hooks.webhooks_send_due(now=later)
    assert sum(d.attempts for d in WebhookDelivery.objects.all()) == attempts


def test_one_delivery_that_cannot_be_built_does_not_stop_the_others(
    org, owner, allow_private, monkeypatch
):
    with Receiver() as receiver:
        _endpoint(org, owner, receiver.url)
        now = timezone.now()
        bad = hooks.org_event_record(org=org, type="action.closed", payload={"n": 1}, now=now)
        hooks.org_event_record(org=org, type="action.closed", payload={"n": 2}, now=now)
        real = OrgEvent.envelope

        def envelope(self):
            if self.pk == bad.pk:
                raise RuntimeError("broken row")
            return real(self)

        monkeypatch.setattr(OrgEvent, "envelope", envelope)
        outcome = hooks.webhooks_send_due(now=now)
    assert outcome["delivered"] == 1 and outcome["failed"] == 1
    broken = WebhookDelivery.objects.get(event=bad)
    assert "broken row" in broken.last_error and broken.next_attempt_at > now
    assert json.loads(receiver.requests[0][2])["data"] == {"n": 2}


def test_payloads_carry_no_customer_email(org, owner, allow_private):
    action = _open_action(org, owner)
    with Receiver() as receiver:
        _endpoint(org, owner, receiver.url)
        action_close(
            action=action, actor=owner, status="done", resolution="Done.", now=timezone.now()
        )
        hooks.webhooks_send_due(now=timezone.now())
    body = receiver.requests[0][2].decode()
    assert action.customer.email not in body
