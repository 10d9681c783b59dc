"""Providers' webhooks posted to the real URLs (/webhooks/anymail/…), as each provider posts
them. The payloads are our own, in the shapes the providers document (and anymail's parsers
read); only the fields that matter here are filled in."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.mail import email_send_now
from accounts.models import InboundAddress, InboundEvent, OutgoingEmail
from tests.accounts.fixtures.mail import ENGLISH_REPLY, reply, sent_email

Kind = InboundEvent.Kind
SECRET = "heard-hook:s3cret-Pa55"
MAILGUN_KEY = "mailgun-signing-key-for-tests"

pytestmark = pytest.mark.filterwarnings(
    # anymail warns on every SendGrid view that it no longer supports SendGrid officially.
    "ignore::anymail.exceptions.AnymailNotSupportedWarning"
)


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.INBOUND_DOMAIN = "reply.heard.example"
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET], "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}


def _auth(secret: str = SECRET) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def post_json(url: str, payload, secret: str = SECRET, **extra):
    client = Client(raise_request_exception=True)
    return client.post(
        url, data=json.dumps(payload), content_type="application/json", **_auth(secret), **extra
    )


@pytest.fixture
def outgoing(org) -> OutgoingEmail:
    row = sent_email(org)
    # What _mark_sent records from anymail_status when the provider names the message.
    OutgoingEmail.objects.filter(pk=row.pk).update(provider_message_id=str(uuid.uuid4()))
    row.refresh_from_db()
    return row


# --- the outbox records the provider's id ----------------------------------------------------


class ProviderBackend:
    """An anymail-style backend: the provider answers with its own id for the message."""

    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        return False

    def close(self):
        pass

    def send_messages(self, messages):
        from anymail.message import AnymailStatus

        for message in messages:
            message.anymail_status = AnymailStatus()
            message.anymail_status.message_id = "provider-id-0001"
        return len(messages)


def test_it_records_the_providers_id_when_the_email_is_sent(db, settings, org):
    settings.MAILERS = {
        "default": {"BACKEND": "tests.accounts.test_inbound_webhooks.ProviderBackend"}
    }
    email_send_now(
        key="t:sent",
        kind="test",
        to="jo@example.com",
        template="test",
        context={"n": 1},
        now=timezone.now(),
    )
    row = OutgoingEmail.objects.get(key="t:sent")
    assert row.sent_at is not None
    assert row.provider_message_id == "provider-id-0001"


# --- Postmark --------------------------------------------------------------------------------


def postmark_bounce(outgoing, event_id=4242):
    return {
        "RecordType": "Bounce",
        "ID": event_id,
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": outgoing.provider_message_id,
        "Description": "The server was unable to deliver your message.",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": outgoing.to,
        "From": "heard@alpha.example",
        "BouncedAt": "2026-03-04T10:05:00.1234567+00:00",
        "Inactive": True,
        "Subject": outgoing.subject,
    }


def test_a_postmark_bounce_marks_the_email_bounced(outgoing):
    response = post_json("/webhooks/anymail/postmark/tracking/", postmark_bounce(outgoing))
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert (event.source, event.kind, event.status_code) == ("postmark", Kind.BOUNCED, "5.1.1")
    assert event.outgoing == outgoing and event.org == outgoing.org
    assert event.recipient == "jo@example.com"
    assert json.loads(event.raw)["ID"] == 4242
    outgoing.refresh_from_db()
    assert outgoing.delivery_state == "bounced"
    assert outgoing.bounced_at.isoformat().startswith("2026-03-04T10:05:00")


def test_a_replayed_postmark_webhook_is_stored_once(outgoing):
    for _ in range(3):
        assert (
            post_json("/webhooks/anymail/postmark/tracking/", postmark_bounce(outgoing)).status_code
            == 200
        )
    assert InboundEvent.objects.count() == 1


def test_postmark_delivery_without_an_event_id_is_stored_once_too(outgoing):
    payload = {
        "RecordType": "Delivery",
        "MessageID": outgoing.provider_message_id,
        "Recipient": outgoing.to,
        "DeliveredAt": "2026-03-04T10:03:00.5+00:00",
        "Details": "smtp;250 2.0.0 OK",
    }
    post_json("/webhooks/anymail/postmark/tracking/", payload)
    post_json("/webhooks/anymail/postmark/tracking/", payload)
    event = InboundEvent.objects.get()
    assert event.kind == Kind.DELIVERED and event.outgoing == outgoing
    outgoing.refresh_from_db()
    assert outgoing.delivery_state == "delivered"


def test_a_postmark_spam_complaint_marks_the_email_complained(outgoing):
    payload = {
        "RecordType": "SpamComplaint",
        "ID": 777,
        "Type": "SpamComplaint",
        "MessageID": outgoing.provider_message_id,
        "Email": outgoing.to,
        "BouncedAt": "2026-03-05T08:00:00+00:00",
    }
    assert post_json("/webhooks/anymail/postmark/tracking/", payload).status_code == 200
    event = InboundEvent.objects.get()
    assert event.kind == Kind.COMPLAINED
    outgoing.refresh_from_db()
    assert outgoing.delivery_state == "complained"


def test_a_postmark_inbound_reply_is_reduced_to_its_new_text(org):
    row, address = InboundAddress.issue(org=org, purpose="reply_action", target="action-code")
    payload = {
        "FromFull": {"Email": "jo@example.com", "Name": "Jo Bloggs"},
        "ToFull": [{"Email": address, "Name": ""}],
        "OriginalRecipient": address,
        "Subject": "Re: We fixed your brakes",
        "MessageID": str(uuid.uuid4()),
        "Date": "Wed, 4 Mar 2026 11:00:00 +0000",
        "TextBody": ENGLISH_REPLY,
        "Headers": [{"Name": "Message-ID", "Value": "<reply-1@mail.example.com>"}],
    }
    assert post_json("/webhooks/anymail/postmark/inbound/", payload).status_code == 200
    event = InboundEvent.objects.get()
    assert (event.source, event.kind) == ("postmark", Kind.REPLY)
    assert event.text.startswith("Thanks, the brakes work perfectly now.")
    assert "wrote:" not in event.text and "Sam was great" in event.text
    assert event.inbound_address == row and event.org == org


def test_a_forged_postmark_webhook_is_refused_and_stores_nothing(outgoing):
    response = post_json(
        "/webhooks/anymail/postmark/tracking/", postmark_bounce(outgoing), secret="heard-hook:guess"
    )
    assert response.status_code == 400
    client = Client()
    unsigned = client.post(
        "/webhooks/anymail/postmark/tracking/",
        data=json.dumps(postmark_bounce(outgoing)),
        content_type="application/json",
    )
    assert unsigned.status_code == 400
    assert not InboundEvent.objects.exists()
    outgoing.refresh_from_db()
    assert outgoing.bounced_at is None


# --- Mailgun ---------------------------------------------------------------------------------


def mailgun_signature(key: str = MAILGUN_KEY) -> dict:
    token, timestamp = uuid.uuid4().hex * 2, str(int(time.time()))
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"token": token, "timestamp": timestamp, "signature": digest}


def mailgun_event(outgoing, event="failed", severity="permanent", key=MAILGUN_KEY):
    return {
        "signature": mailgun_signature(key),
        "event-data": {
            "event": event,
            "severity": severity,
            "id": uuid.uuid4().hex,
            "timestamp": time.time(),
            "recipient": outgoing.to,
            "reason": "bounce",
            # Mailgun keeps the Message-ID Heard set and echoes it without the brackets.
            "message": {"headers": {"message-id": outgoing.message_id.strip("<>")}},
            "delivery-status": {
                "code": 550,
                "message": "5.1.1 The email account that you tried to reach does not exist",
                "description": "",
            },
        },
    }


def test_a_signed_mailgun_failure_is_a_bounce_matched_by_our_message_id(outgoing):
    response = post_json("/webhooks/anymail/mailgun/tracking/", mailgun_event(outgoing))
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert (event.source, event.kind, event.status_code) == ("mailgun", Kind.BOUNCED, "5.1.1")
    assert event.outgoing == outgoing


def test_a_temporary_mailgun_failure_is_deferred(outgoing):
    post_json("/webhooks/anymail/mailgun/tracking/", mailgun_event(outgoing, severity="temporary"))
    assert InboundEvent.objects.get().kind == Kind.DEFERRED
    outgoing.refresh_from_db()
    assert outgoing.bounced_at is None


def test_a_mailgun_webhook_with_a_bad_signature_stores_nothing(outgoing):
    response = post_json(
        "/webhooks/anymail/mailgun/tracking/", mailgun_event(outgoing, key="not-the-key")
    )
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


def test_a_mailgun_inbound_message_is_classified_like_any_other(org):
    _, address = InboundAddress.issue(org=org, purpose="reply_invitation", target="inv-code")
    raw = reply(to=address, body="Sure, happy to help.\n\n> How did we do?\n")
    client = Client(raise_request_exception=True)
    response = client.post(
        "/webhooks/anymail/mailgun/inbound_mime/",
        data={
            "recipient": address,
            "sender": "jo@example.com",
            "body-mime": raw.decode(),
            **mailgun_signature(),
        },
        **_auth(),
    )
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert (event.source, event.kind, event.text) == ("mailgun", Kind.REPLY, "Sure, happy to help.")


# --- Amazon SES through SNS ------------------------------------------------------------------


def post_sns(url: str, ses_message, secret: str | None = SECRET):
    """An SNS HTTP(S) notification carrying an SES event. anymail 15 checks the SNS headers
    against the body and relies on the webhook's basic auth: it does not verify SNS message
    signatures (so it fetches no signing certificate, and nothing here is mocked)."""
    sns_id = str(uuid.uuid4())
    body = {
        "Type": "Notification",
        "MessageId": sns_id,
        "TopicArn": "arn:aws:sns:eu-west-1:111122223333:heard-ses",
        "Message": ses_message if isinstance(ses_message, str) else json.dumps(ses_message),
        "Timestamp": "2026-03-04T10:06:00.000Z",
        "SignatureVersion": "1",
        "Signature": "c2lnbmF0dXJl",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService.pem",
    }
    headers = {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification", "HTTP_X_AMZ_SNS_MESSAGE_ID": sns_id}
    if secret:
        headers.update(_auth(secret))
    client = Client(raise_request_exception=True)
    return client.post(
        url, data=json.dumps(body), content_type="text/plain; charset=UTF-8", **headers
    )


def ses_mail(outgoing) -> dict:
    return {
        "timestamp": "2026-03-04T10:02:00.000Z",
        "messageId": outgoing.provider_message_id,
        "source": "heard@alpha.example",
        "destination": [outgoing.to],
    }


def test_an_ses_bounce_complaint_and_delivery_arrive_through_sns(outgoing):
    bounce = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": outgoing.to,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-03-04T10:06:00.000Z",
            "feedbackId": "0100-bounce",
        },
        "mail": ses_mail(outgoing),
    }
    delivery = {
        "notificationType": "Delivery",
        "delivery": {"recipients": [outgoing.to], "smtpResponse": "250 2.0.0 OK"},
        "mail": ses_mail(outgoing),
    }
    complaint = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": outgoing.to}],
            "complaintFeedbackType": "abuse",
            "timestamp": "2026-03-05T10:06:00.000Z",
        },
        "mail": ses_mail(outgoing),
    }
    for message in (delivery, bounce, complaint):
        assert post_sns("/webhooks/anymail/amazon_ses/tracking/", message).status_code == 200
    kinds = set(InboundEvent.objects.values_list("source", "kind", "status_code"))
    assert kinds == {
        ("amazon_ses", Kind.DELIVERED, "2.0.0"),
        ("amazon_ses", Kind.BOUNCED, "5.1.1"),
        ("amazon_ses", Kind.COMPLAINED, ""),
    }
    assert set(InboundEvent.objects.values_list("outgoing", flat=True)) == {outgoing.pk}
    outgoing.refresh_from_db()
    assert outgoing.delivered_at and outgoing.bounced_at and outgoing.complained_at


def test_an_ses_inbound_message_through_sns(org):
    _, address = InboundAddress.issue(org=org, purpose="intake", target="touchpoint-code")
    raw = reply(to=address, body="My wheel is buckled, can you help?\n", subject="Repair")
    received = {
        "notificationType": "Received",
        "receipt": {
            "recipients": [address],
            "action": {"type": "SNS", "encoding": "BASE64", "topicArn": "arn:aws:sns:x"},
            "spamVerdict": {"status": "PASS"},
        },
        "mail": {
            "messageId": "ses-inbound-1",
            "source": "jo@example.com",
            "timestamp": "2026-03-04T10:00:00.000Z",
        },
        "content": base64.b64encode(raw).decode(),
    }
    assert post_sns("/webhooks/anymail/amazon_ses/inbound/", received).status_code == 200
    event = InboundEvent.objects.get()
    assert (event.source, event.kind) == ("amazon_ses", Kind.INTAKE)
    assert event.text == "My wheel is buckled, can you help?"


def test_an_sns_post_without_the_secret_gets_401_and_stores_nothing(outgoing):
    message = {
        "notificationType": "Delivery",
        "delivery": {"recipients": [outgoing.to]},
        "mail": ses_mail(outgoing),
    }
    assert (
        post_sns("/webhooks/anymail/amazon_ses/tracking/", message, secret=None).status_code == 401
    )
    assert (
        post_sns("/webhooks/anymail/amazon_ses/tracking/", message, secret="x:y").status_code == 400
    )
    assert not InboundEvent.objects.exists()


# --- SendGrid --------------------------------------------------------------------------------


def test_sendgrid_events_in_one_post_are_each_stored(outgoing):
    now = int(timezone.now().timestamp())
    common = {"email": outgoing.to, "timestamp": now, "anymail_id": outgoing.provider_message_id}
    events = [
        {**common, "event": "delivered", "sg_event_id": "sg-1", "response": "250 OK"},
        {
            **common,
            "event": "bounce",
            "sg_event_id": "sg-2",
            "type": "bounce",
            "status": "5.1.1",
            "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        },
        {**common, "event": "spamreport", "sg_event_id": "sg-3"},
        {**common, "event": "open", "sg_event_id": "sg-4"},
    ]
    assert post_json("/webhooks/anymail/sendgrid/tracking/", events).status_code == 200
    # Opens are not kept: Heard tracks nobody's reading.
    assert set(InboundEvent.objects.values_list("kind", flat=True)) == {
        Kind.DELIVERED,
        Kind.BOUNCED,
        Kind.COMPLAINED,
    }
    assert post_json("/webhooks/anymail/sendgrid/tracking/", events).status_code == 200
    assert InboundEvent.objects.count() == 3
    outgoing.refresh_from_db()
    assert outgoing.delivery_state == "complained"


def test_a_sendgrid_raw_inbound_parse_post(org):
    _, address = InboundAddress.issue(org=org, purpose="reply_invitation", target="inv")
    raw = reply(to=address, body="Great service.\n")
    client = Client(raise_request_exception=True)
    response = client.post(
        "/webhooks/anymail/sendgrid/inbound/",
        data={
            "email": raw.decode(),
            "envelope": json.dumps({"to": [address], "from": "jo@example.com"}),
            "to": address,
            "from": "Jo Bloggs <jo@example.com>",
            "subject": "Re: How did we do?",
            "charsets": json.dumps({"to": "UTF-8", "subject": "UTF-8", "from": "UTF-8"}),
        },
        **_auth(),
    )
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert (event.source, event.kind, event.text) == ("sendgrid", Kind.REPLY, "Great service.")


def test_a_tracking_event_without_any_id_is_matched_by_its_recipient(outgoing):
    now = int(timezone.now().timestamp())
    post_json(
        "/webhooks/anymail/sendgrid/tracking/",
        [
            {
                "email": outgoing.to.upper(),
                "timestamp": now,
                "event": "bounce",
                "sg_event_id": "sg-9",
            }
        ],
    )
    assert InboundEvent.objects.get().outgoing == outgoing


def test_the_locmem_outbox_is_untouched(outgoing):
    # Webhooks only record rows: nothing is sent in answer to one.
    post_json("/webhooks/anymail/postmark/tracking/", postmark_bounce(outgoing))
    assert mail.outbox == []
