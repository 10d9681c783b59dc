"""Receiving, classifying and matching what comes back (accounts.inbound)."""

import pytest
from django.utils import timezone

from accounts.inbound import inbound_event_record, inbound_message_record
from accounts.mail import message_id
from accounts.models import InboundAddress, InboundEvent, OutgoingEmail
from tests.accounts.fixtures.mail import (
    ENGLISH_REPLY,
    FRENCH_REPLY,
    GERMAN_REPLY,
    arf,
    dsn,
    reply,
    returned_headers,
    sent_email,
)

Kind = InboundEvent.Kind
Purpose = InboundAddress.Purpose


@pytest.fixture(autouse=True)
def _inbound_domain(settings):
    settings.INBOUND_DOMAIN = "reply.heard.example"


# --- addresses -------------------------------------------------------------------------------


def test_it_issues_unguessable_addresses_and_stores_only_their_hash(org):
    row, address = InboundAddress.issue(
        org=org, purpose=Purpose.REPLY_INVITATION, target="0b9f3c4e-invitation"
    )
    local, _, domain = address.partition("@")
    assert domain == "reply.heard.example"
    assert local.startswith("r-") and len(local) == 2 + 32  # 160 random bits in base32
    token = local[2:]
    assert token not in row.token_hash and len(row.token_hash) == 64
    assert InboundAddress.resolve(address) == row
    assert InboundAddress.issue(org=org, purpose=Purpose.BOUNCE)[1].startswith("b-")
    assert InboundAddress.issue(org=org, purpose=Purpose.INTAKE)[1].startswith("in-")


def test_it_resolves_whatever_case_the_address_comes_back_in(org):
    row, address = InboundAddress.issue(org=org, purpose=Purpose.REPLY_ACTION, target="a1")
    assert InboundAddress.resolve(address.upper()) == row
    assert InboundAddress.resolve(f"Heard <{address}>") == row


def test_it_resolves_nothing_revoked_elsewhere_or_made_up(org):
    row, address = InboundAddress.issue(org=org, purpose=Purpose.REPLY_ACTION, target="a1")
    local = address.partition("@")[0]
    assert InboundAddress.resolve(f"{local}@reply.other.example") is None
    assert InboundAddress.resolve(address.replace("r-", "b-")) is None
    assert InboundAddress.resolve("r-" + "a" * 32 + "@reply.heard.example") is None
    assert InboundAddress.resolve("") is None
    row.revoked_at = timezone.now()
    row.save()
    assert InboundAddress.resolve(address) is None


# --- the outbox's side -----------------------------------------------------------------------


def test_it_stores_each_emails_message_id_when_it_is_queued(org):
    outgoing = sent_email(org)
    assert outgoing.message_id == message_id(outgoing.key)


def test_it_reports_the_furthest_delivery_state(org):
    outgoing = sent_email(org)
    assert outgoing.delivery_state == "sent"
    outgoing.delivered_at = timezone.now()
    assert outgoing.delivery_state == "delivered"
    outgoing.bounced_at = timezone.now()
    assert outgoing.delivery_state == "bounced"
    outgoing.complained_at = timezone.now()
    assert outgoing.delivery_state == "complained"
    assert OutgoingEmail(key="x").delivery_state == "queued"
    assert OutgoingEmail(key="y", failed_at=timezone.now()).delivery_state == "failed"


# --- bounces ---------------------------------------------------------------------------------


def test_it_matches_a_bounce_by_the_verp_address_it_came_back_to(org):
    outgoing = sent_email(org)
    _, bounce_address = InboundAddress.issue(org=org, purpose=Purpose.BOUNCE, outgoing=outgoing)
    # The returned headers name some other Message-ID: the VERP address alone decides.
    raw = dsn(to=bounce_address, returned="Message-ID: <elsewhere@example.net>\n")
    [event] = inbound_message_record(raw_bytes=raw, envelope_to=[bounce_address])
    assert event.kind == Kind.BOUNCED
    assert event.status_code == "5.1.1"
    assert event.outgoing == outgoing and event.org == org
    assert event.recipient == "jo@example.com"
    assert "User unknown" in event.text
    assert event.is_auto and event.processed_at is None
    assert event.raw == raw.decode()
    outgoing.refresh_from_db()
    assert outgoing.bounced_at == event.received_at
    assert outgoing.delivery_state == "bounced"


@pytest.mark.parametrize("returned_as", ["text/rfc822-headers", "message/rfc822"])
def test_it_matches_a_bounce_by_the_returned_message_id_alone(org, returned_as):
    other = sent_email(org, key="t:other")
    outgoing = sent_email(org)
    raw = dsn(
        to="postmaster@reply.heard.example",
        returned=returned_headers(outgoing),
        returned_as=returned_as,
    )
    [event] = inbound_message_record(raw_bytes=raw, envelope_to=[])
    assert event.kind == Kind.BOUNCED
    assert event.outgoing == outgoing
    assert event.org == org
    other.refresh_from_db()
    assert other.bounced_at is None


def test_it_records_a_temporary_failure_as_deferred_without_marking_the_email(org):
    outgoing = sent_email(org)
    raw = dsn(
        to="postmaster@reply.heard.example",
        returned=returned_headers(outgoing),
        action="delayed",
        status="4.2.2",
        diagnostic="smtp; 452 4.2.2 Mailbox full",
    )
    [event] = inbound_message_record(raw_bytes=raw, envelope_to=["postmaster@reply.heard.example"])
    assert event.kind == Kind.DEFERRED
    assert event.status_code == "4.2.2"
    assert event.outgoing == outgoing
    outgoing.refresh_from_db()
    assert outgoing.bounced_at is None
    assert outgoing.delivery_state == "sent"


def test_it_records_a_complaint_from_an_abuse_report(org):
    outgoing = sent_email(org)
    raw = arf(to="fbl@reply.heard.example", returned=returned_headers(outgoing))
    [event] = inbound_message_record(raw_bytes=raw, envelope_to=[])
    assert event.kind == Kind.COMPLAINED
    assert event.outgoing == outgoing
    assert event.recipient == "jo@example.com"
    outgoing.refresh_from_db()
    assert outgoing.complained_at is not None
    assert outgoing.delivery_state == "complained"


def test_it_stores_a_message_delivered_twice_once(org):
    outgoing = sent_email(org)
    raw = dsn(to="postmaster@reply.heard.example", returned=returned_headers(outgoing))
    [first] = inbound_message_record(raw_bytes=raw, envelope_to=[])
    [again] = inbound_message_record(raw_bytes=raw, envelope_to=[])
    assert again.pk == first.pk
    assert InboundEvent.objects.count() == 1


def test_a_replayed_event_is_stored_once_and_keeps_the_first_facts(org):
    outgoing = sent_email(org)
    first_time = timezone.now() - timezone.timedelta(hours=1)
    event, created = inbound_event_record(
        source="postmark",
        kind=Kind.BOUNCED,
        dedupe_key="postmark:42",
        raw="{}",
        outgoing=outgoing,
        received_at=first_time,
    )
    again, created_again = inbound_event_record(
        source="postmark",
        kind=Kind.BOUNCED,
        dedupe_key="postmark:42",
        raw="{}",
        outgoing=outgoing,
        received_at=timezone.now(),
    )
    assert created and not created_again and again.pk == event.pk
    outgoing.refresh_from_db()
    assert outgoing.bounced_at == first_time


# --- replies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "new_text"),
    [
        (ENGLISH_REPLY, "Thanks, the brakes work perfectly now. Sam was great."),
        (GERMAN_REPLY, "Vielen Dank, die Bremsen funktionieren jetzt einwandfrei."),
        (FRENCH_REPLY, "Merci, tout fonctionne maintenant."),
    ],
)
def test_it_keeps_only_the_new_text_of_a_reply(org, body, new_text):
    row, address = InboundAddress.issue(
        org=org, purpose=Purpose.REPLY_ACTION, target="5f0e-action-code"
    )
    raw = reply(to=address, body=body)
    [event] = inbound_message_record(raw_bytes=raw, envelope_to=[address])
    assert event.kind == Kind.REPLY and not event.is_auto
    assert event.text.startswith(new_text)
    assert "wrote" not in event.text and "schrieb" not in event.text and "écrit" not in event.text
    assert ">" not in event.text
    assert event.inbound_address == row and event.org == org
    assert event.address == address.lower()
    assert event.sender == "Jo Bloggs <jo@example.com>"
    assert body.splitlines()[-1] in event.raw  # the whole message is kept


def test_it_matches_a_reply_to_the_email_it_answers(org):
    outgoing = sent_email(org)
    _, address = InboundAddress.issue(org=org, purpose=Purpose.REPLY_INVITATION, target="i1")
    raw = reply(
        to=address,
        body="Yes, all good.\n",
        headers={"In-Reply-To": outgoing.message_id, "References": outgoing.message_id},
    )
    [event] = inbound_message_record(raw_bytes=raw, envelope_to=[address])
    assert event.outgoing == outgoing
    outgoing.refresh_from_db()
    assert outgoing.delivery_state == "sent"  # a reply is not a delivery report


def test_it_never_matches_a_reply_to_another_business_email(org, other_org):
    theirs = sent_email(other_org, key="t:theirs")
    _, address = InboundAddress.issue(org=org, purpose=Purpose.REPLY_INVITATION, target="i1")
    raw = reply(to=address, body="Hello\n", headers={"In-Reply-To": theirs.message_id})
    [event] = inbound_message_record(raw_bytes=raw, envelope_to=[address])
    assert event.outgoing is None and event.org == org


@pytest.mark.parametrize(
    ("headers", "subject"),
    [
        ({"Auto-Submitted": "auto-replied"}, "Re: How did we do?"),
        ({"Auto-Submitted": "auto-generated; type=vacation"}, "Re: How did we do?"),
        ({"X-Autoreply": "yes"}, "Re: How did we do?"),
        ({"X-Autorespond": "Out of office"}, "Re: How did we do?"),
        ({"Precedence": "bulk"}, "Re: How did we do?"),
        ({"Precedence": "auto_reply"}, "Re: How did we do?"),
        ({"List-Id": "<customers.list.example>"}, "Re: How did we do?"),
        ({}, "Out of Office: back on Monday"),
        ({}, "Automatic reply: How did we do?"),
        ({}, "Abwesenheitsnotiz: Wie war es?"),
        ({}, "Réponse automatique : Comment était-ce ?"),
    ],
)
def test_it_marks_automatic_replies(org, headers, subject):
    _, address = InboundAddress.issue(org=org, purpose=Purpose.REPLY_INVITATION, target="i1")
    raw = reply(to=address, body="I am away until Monday.\n", subject=subject, headers=headers)
    [event] = inbound_message_record(raw_bytes=raw, envelope_to=[address])
    assert event.kind == Kind.AUTO_REPLY
    assert event.is_auto


def test_a_person_saying_no_to_auto_submission_is_a_reply(org):
    _, address = InboundAddress.issue(org=org, purpose=Purpose.REPLY_INVITATION, target="i1")
    raw = reply(to=address, body="Not really.\n", headers={"Auto-Submitted": "no"})
    [event] = inbound_message_record(raw_bytes=raw, envelope_to=[address])
    assert event.kind == Kind.REPLY and not event.is_auto


def test_it_records_intake_and_unknown_messages(org):
    _, intake = InboundAddress.issue(org=org, purpose=Purpose.INTAKE, target="touchpoint-1")
    [event] = inbound_message_record(
        raw_bytes=reply(to=intake, body="My bike is squeaking.\n"), envelope_to=[intake]
    )
    assert event.kind == Kind.INTAKE and event.text == "My bike is squeaking."
    stranger = "hello@reply.heard.example"
    [event] = inbound_message_record(
        raw_bytes=reply(to=stranger, body="Who are you?\n"), envelope_to=[stranger]
    )
    assert event.kind == Kind.UNKNOWN and event.org is None and event.address == stranger


def test_a_plain_bounce_to_a_verp_address_is_a_bounce(org):
    outgoing = sent_email(org)
    _, bounce_address = InboundAddress.issue(org=org, purpose=Purpose.BOUNCE, outgoing=outgoing)
    raw = reply(
        to=bounce_address,
        sender="MAILER-DAEMON@old-mta.example",
        subject="failure notice",
        body="I'm afraid I wasn't able to deliver your message.\n",
    )
    [event] = inbound_message_record(raw_bytes=raw, envelope_to=[bounce_address])
    assert event.kind == Kind.BOUNCED and event.outgoing == outgoing
    assert event.recipient == outgoing.to


def test_it_keeps_a_message_it_cannot_read_and_says_why(org):
    raw = (
        b"From: \xff\xfe\r\nTo: x@reply.heard.example\r\nSubject: \xc3\x28\r\n\r\n\x00body\xff\r\n"
    )
    [event] = inbound_message_record(raw_bytes=raw, envelope_to=["x@reply.heard.example"])
    assert event.pk is not None
    assert "\x00" not in event.raw and "body" in event.raw


def test_unprocessed_events_of_a_kind_are_one_query_away(org):
    _, address = InboundAddress.issue(org=org, purpose=Purpose.REPLY_ACTION, target="a1")
    [event] = inbound_message_record(
        raw_bytes=reply(to=address, body="Thanks!\n"), envelope_to=[address]
    )
    assert list(InboundEvent.objects.unprocessed().of_kind(Kind.REPLY)) == [event]
    assert not InboundEvent.objects.unprocessed().of_kind(Kind.BOUNCED).exists()
    InboundEvent.objects.filter(pk=event.pk).update(processed_at=timezone.now())
    assert not InboundEvent.objects.unprocessed().exists()
