"""Receipts start surveys: a business BCCs its touchpoint's intake address on the receipt it
already sends, and the customer it was addressed to is surveyed like any other."""

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from django.utils import timezone

from accounts.inbound import inbound_message_record
from accounts.models import InboundAddress, InboundEvent
from surveys.inbound import inbound_customers_apply
from surveys.models import Interaction, Invitation
from surveys.services import touchpoint_intake_address_issue
from tests.factories import make_touchpoint

pytestmark = pytest.mark.django_db


def receipt(
    *,
    sender="Alice Archer <alice@alpha.example>",
    to="Jo Bloggs <jo@example.com>",
    cc=None,
    message_id=None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = "Your repair is ready"
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = message_id or make_msgid(domain="alpha.example")
    message.set_content("Thanks for coming in. Your bike is ready to collect.\n\nAlpha Bikes")
    return message.as_bytes()


def bcc(address: str, raw: bytes) -> list[InboundEvent]:
    # A BCC is only in the envelope: the message's headers never name the intake address.
    return inbound_message_record(raw_bytes=raw, envelope_to=[address])


@pytest.fixture
def intake(touchpoint):
    return touchpoint_intake_address_issue(touchpoint=touchpoint, now=timezone.now())


def test_it_records_a_visit_for_the_customer_a_member_sent_the_receipt_to(
    touchpoint, owner, intake
):
    bcc(intake, receipt(to="Jo Bloggs <jo@example.com>, bob@elsewhere.example"))
    assert inbound_customers_apply(now=timezone.now()) == 1
    interaction = Interaction.objects.get(touchpoint=touchpoint)
    assert interaction.customer.email == "jo@example.com"
    assert interaction.customer.name == "Jo Bloggs"
    assert interaction.staff == owner
    assert Invitation.objects.get(interaction=interaction).status == Invitation.Status.SCHEDULED


def test_it_skips_members_and_takes_to_before_cc(touchpoint, owner, teammate, intake):
    raw = receipt(to="Bob Baker <BOB@alpha.example>", cc="pat@example.com, zed@example.com")
    bcc(intake, raw)
    inbound_customers_apply(now=timezone.now())
    interaction = Interaction.objects.get(touchpoint=touchpoint)
    assert interaction.customer.email == "pat@example.com"


def test_it_uses_the_message_id_so_the_same_receipt_twice_is_one_visit(
    org, touchpoint, owner, intake
):
    message_id = make_msgid(domain="alpha.example")
    bcc(intake, receipt(message_id=message_id))
    # The same receipt BCC'd to another touchpoint's address too: a second event, but the
    # same Message-ID names the same visit.
    other = make_touchpoint(org, slug="sale", name="Sale")
    other_intake = touchpoint_intake_address_issue(touchpoint=other, now=timezone.now())
    bcc(other_intake, receipt(message_id=message_id))
    assert inbound_customers_apply(now=timezone.now()) == 2
    interaction = Interaction.objects.get()
    assert interaction.reference == "email:" + message_id.strip("<>")
    assert interaction.touchpoint == touchpoint


def test_mail_from_a_stranger_is_held_and_surveys_nobody_until_approved(
    owner_client, touchpoint, owner, intake
):
    bcc(intake, receipt(sender="Mallory <mallory@spam.example>", to="victim@example.com"))
    inbound_customers_apply(now=timezone.now())
    assert not Interaction.objects.exists()
    page = owner_client.get(f"/surveys/touchpoints/{touchpoint.code}/").content.decode()
    assert "mallory@spam.example" in page and "Approve" in page
    event = InboundEvent.objects.get(kind="intake")
    # Running the sweep again doesn't change its mind.
    inbound_customers_apply(now=timezone.now())
    assert not Interaction.objects.exists()

    answer = owner_client.post(
        f"/surveys/touchpoints/{touchpoint.code}/", {"intake": "approve", "event": event.pk}
    )
    assert answer.status_code == 302
    interaction = Interaction.objects.get()
    assert interaction.customer.email == "victim@example.com" and interaction.staff is None
    page = owner_client.get(f"/surveys/touchpoints/{touchpoint.code}/").content.decode()
    assert "mallory@spam.example" not in page
    # Approved once: a second press (a double click) records nothing more.
    owner_client.post(
        f"/surveys/touchpoints/{touchpoint.code}/", {"intake": "approve", "event": event.pk}
    )
    assert Interaction.objects.count() == 1


def test_a_discarded_message_surveys_nobody(owner_client, touchpoint, owner, intake):
    bcc(intake, receipt(sender="mallory@spam.example", to="victim@example.com"))
    inbound_customers_apply(now=timezone.now())
    event = InboundEvent.objects.get(kind="intake")
    owner_client.post(
        f"/surveys/touchpoints/{touchpoint.code}/", {"intake": "discard", "event": event.pk}
    )
    answer = owner_client.post(
        f"/surveys/touchpoints/{touchpoint.code}/", {"intake": "approve", "event": event.pk}
    )
    assert answer.status_code == 404
    assert not Interaction.objects.exists()


def test_a_trusted_sender_domain_needs_no_approval(owner_client, touchpoint, owner, intake):
    answer = owner_client.post(
        f"/surveys/touchpoints/{touchpoint.code}/",
        {"intake": "senders", "domains": "tills.example, @Bookings.example"},
    )
    assert answer.status_code == 302
    touchpoint.refresh_from_db()
    assert touchpoint.intake_domains == ["tills.example", "bookings.example"]
    bcc(intake, receipt(sender="receipts@mail.tills.example", to="jo@example.com"))
    inbound_customers_apply(now=timezone.now())
    interaction = Interaction.objects.get()
    assert interaction.customer.email == "jo@example.com" and interaction.staff is None


def test_a_bad_domain_is_refused_and_nothing_saved(owner_client, touchpoint, owner):
    owner_client.post(
        f"/surveys/touchpoints/{touchpoint.code}/",
        {"intake": "senders", "domains": "ok.example <script>"},
    )
    touchpoint.refresh_from_db()
    assert touchpoint.intake_sender_domains == ""


def test_the_page_always_shows_the_address_and_replacing_it_stops_the_old_one(
    owner_client, touchpoint, owner
):
    page = owner_client.get(f"/surveys/touchpoints/{touchpoint.code}/").content.decode()
    assert "No intake address yet" in page
    owner_client.post(f"/surveys/touchpoints/{touchpoint.code}/", {"intake": "address"})
    touchpoint.refresh_from_db()
    first = touchpoint.intake_address()[1]
    assert (
        first.startswith("in-")
        and first in owner_client.get(f"/surveys/touchpoints/{touchpoint.code}/").content.decode()
    )
    assert InboundAddress.resolve(first).target == str(touchpoint.code)

    owner_client.post(f"/surveys/touchpoints/{touchpoint.code}/", {"intake": "address"})
    touchpoint.refresh_from_db()
    second = touchpoint.intake_address()[1]
    assert second != first
    assert InboundAddress.resolve(first) is None
    assert InboundAddress.resolve(second).purpose == "intake"
    bcc(first, receipt())
    inbound_customers_apply(now=timezone.now())
    assert not Interaction.objects.exists()


def test_a_receipt_to_nobody_outside_the_business_records_nothing(touchpoint, owner, intake):
    bcc(intake, receipt(to="alice@alpha.example"))
    assert inbound_customers_apply(now=timezone.now()) == 1
    assert not Interaction.objects.exists()
    assert InboundEvent.objects.get(kind="intake").processed_at is not None


def test_only_the_owner_of_the_touchpoint_can_use_its_buttons(
    outsider_client, teammate_client, touchpoint, owner, intake
):
    bcc(intake, receipt(sender="mallory@spam.example", to="victim@example.com"))
    inbound_customers_apply(now=timezone.now())
    event = InboundEvent.objects.get(kind="intake")
    url = f"/surveys/touchpoints/{touchpoint.code}/"
    assert outsider_client.post(url, {"intake": "approve", "event": event.pk}).status_code == 404
    assert teammate_client.post(url, {"intake": "approve", "event": event.pk}).status_code in (
        302,
        403,
    )
    assert not Interaction.objects.exists()
