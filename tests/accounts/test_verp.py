"""Each email's own envelope sender (VERP): a bounce from any mail server names the email it
is about, with no row per address and nothing to guess."""

import socket

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from accounts.inbound import inbound_message_record
from accounts.mail import email_deliver, email_queue
from accounts.models import InboundAddress, InboundEvent, OutgoingEmail
from tests.accounts.fixtures.mail import dsn, returned_headers

pytestmark = pytest.mark.django_db


class Sink:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(settings):
    sink = Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 5},
        }
    }
    yield sink
    controller.stop()


def test_it_sends_over_smtp_from_the_emails_own_bounce_address(org, smtp):
    outgoing = email_queue(
        key="t:verp", kind="test", to="jo@example.com", template="test", context={}, org=org
    )
    assert email_deliver(keys=["t:verp"], now=timezone.now()).sent == ["t:verp"]
    (envelope,) = smtp.envelopes
    outgoing.refresh_from_db()
    assert envelope.mail_from == outgoing.bounce_address()
    assert envelope.mail_from.startswith("b-") and envelope.mail_from.endswith("@reply.localhost")
    # The From header is still the business's.
    assert b"From: Alpha Bikes" in envelope.content


def test_a_bounce_to_that_address_marks_the_email_bounced_without_its_message_id(org):
    outgoing = email_queue(
        key="t:verp2", kind="test", to="jo@example.com", template="test", context={}, org=org
    )
    OutgoingEmail.objects.filter(pk=outgoing.pk).update(sent_at=timezone.now())
    # The returned headers carry no Message-ID that would match: only the address does.
    headers = returned_headers(outgoing).replace(outgoing.message_id, "<other@elsewhere>")
    (event,) = inbound_message_record(
        raw_bytes=dsn(to=outgoing.bounce_address(), returned=headers),
        envelope_to=[outgoing.bounce_address()],
    )
    assert event.kind == InboundEvent.Kind.BOUNCED and event.outgoing_id == outgoing.pk
    assert OutgoingEmail.objects.get(pk=outgoing.pk).bounced_at is not None


def test_a_forged_bounce_address_names_nothing(org):
    outgoing = email_queue(
        key="t:verp3", kind="test", to="jo@example.com", template="test", context={}, org=org
    )
    token = outgoing.bounce_token()
    forged = token[:8] + ("a" if token[8] != "a" else "b") + token[9:]
    assert InboundAddress.resolve(f"b-{forged}@reply.localhost") is None
    assert InboundAddress.resolve(f"b-{token}@reply.localhost").outgoing == outgoing


def test_a_derived_reply_address_resolves_once_saved_and_is_stable(org):
    row, address = InboundAddress.derived(
        org=org, purpose=InboundAddress.Purpose.REPLY_ACTION, target="1234"
    )
    assert InboundAddress.resolve(address) is None  # not saved yet
    InboundAddress.objects.bulk_create([row], ignore_conflicts=True)
    again, same = InboundAddress.derived(
        org=org, purpose=InboundAddress.Purpose.REPLY_ACTION, target="1234"
    )
    InboundAddress.objects.bulk_create([again], ignore_conflicts=True)
    assert same == address and InboundAddress.objects.count() == 1
    assert InboundAddress.resolve(address).target == "1234"
