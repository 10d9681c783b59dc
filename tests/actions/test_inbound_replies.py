"""A customer answering an email about their action: their words reach the action, its
owner and the member who wrote to them; an auto-reply reaches nobody."""

import pytest
from django.utils import timezone

from accounts.hooks import webhook_endpoint_create
from accounts.inbound import inbound_message_record
from accounts.models import InboundEvent, OrgEvent, OutgoingEmail
from actions.inbound import inbound_actions_apply, reply_address_issue
from actions.models import Action, ActionEvent
from actions.services import action_close, loop_message_send
from tests.accounts.fixtures.mail import reply
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

QUOTED = (
    "Thanks, but the brake still squeaks.\n\n"
    "On Mon, 30 Nov 2026 at 09:00, Alpha Bikes <heard@localhost> wrote:\n"
    "> We replaced the brake pads.\n> Did this sort it out?\n"
)
QUOTED_GERMAN = (
    "Danke, aber die Bremse quietscht immer noch.\n\n"
    "Am Mo., 30. Nov. 2026 um 09:00 Uhr schrieb Alpha Bikes <heard@localhost>:\n"
    "> Wir haben die Bremsbeläge ersetzt.\n"
)


@pytest.fixture
def closed(routed, owner, teammate):
    action = routed(
        {0: False},
        verbatim="The brakes squeak.",
        staff=teammate,
        customer=make_customer(teammate.org, email="jo@example.com", name="Jo Bloggs"),
    )
    now = timezone.now()
    action_close(
        action=action, actor=teammate, status=Action.Status.DONE, resolution="New pads.", now=now
    )
    loop_message_send(
        action=action, actor=teammate, subject="Your brakes", body="We fitted new pads.", now=now
    )
    return Action.objects.get(pk=action.pk)


def test_the_loop_email_answers_to_the_actions_reply_address(closed):
    outgoing = OutgoingEmail.objects.get(kind="loop_message")
    assert outgoing.reply_to == reply_address_issue(closed)


@pytest.mark.parametrize(
    "body, words",
    [
        (QUOTED, "Thanks, but the brake still squeaks."),
        (QUOTED_GERMAN, "Danke, aber die Bremse quietscht immer noch."),
    ],
)
def test_a_reply_lands_on_the_action_as_the_customers_words(closed, teammate, body, words):
    address = reply_address_issue(closed)
    inbound_message_record(raw_bytes=reply(to=address, body=body), envelope_to=[address])
    assert inbound_actions_apply(now=timezone.now()) == 1

    event = ActionEvent.objects.get(action=closed, kind=ActionEvent.Kind.CUSTOMER_REPLY)
    assert event.text == words
    action = Action.objects.get(pk=closed.pk)
    assert action.customer_replied_at is not None
    assert action.status == closed.status  # a reply reopens nothing by itself
    forward = OutgoingEmail.objects.get(kind="reply_forward")
    assert forward.to == teammate.user.email and "jo@example.com" in forward.reply_to
    assert words in forward.body_text


def test_the_owner_is_told_once_even_if_the_sweep_runs_twice(closed, owner, teammate):
    # The action moves to the owner; the teammate who wrote to the customer gets the forward.
    Action.objects.filter(pk=closed.pk).update(owner=owner)
    address = reply_address_issue(closed)
    raw = reply(to=address, body=QUOTED)
    inbound_message_record(raw_bytes=raw, envelope_to=[address])
    inbound_message_record(raw_bytes=raw, envelope_to=[address])  # delivered twice
    inbound_actions_apply(now=timezone.now())
    inbound_actions_apply(now=timezone.now())
    notices = OutgoingEmail.objects.filter(kind="reply_notice")
    assert [n.to for n in notices] == [owner.user.email]
    forwards = OutgoingEmail.objects.filter(kind="reply_forward")
    assert [f.to for f in forwards] == [teammate.user.email]
    assert ActionEvent.objects.filter(kind=ActionEvent.Kind.CUSTOMER_REPLY).count() == 1


def test_an_auto_reply_notifies_nobody_and_adds_nothing(closed):
    address = reply_address_issue(closed)
    inbound_message_record(
        raw_bytes=reply(
            to=address,
            body="I am away until Monday.",
            subject="Automatic reply: Your brakes",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        envelope_to=[address],
    )
    inbound_actions_apply(now=timezone.now())
    assert not ActionEvent.objects.filter(kind=ActionEvent.Kind.CUSTOMER_REPLY).exists()
    assert not OutgoingEmail.objects.filter(kind__in=["reply_notice", "reply_forward"]).exists()
    assert InboundEvent.objects.get().processed_at is not None


def test_the_reply_leads_the_action_page_and_marks_the_inbox(closed, teammate):
    from tests.conftest import client_for

    address = reply_address_issue(closed)
    inbound_message_record(raw_bytes=reply(to=address, body=QUOTED), envelope_to=[address])
    inbound_actions_apply(now=timezone.now())
    client = client_for(teammate)
    page = client.get(closed.get_absolute_url()).content.decode()
    reply_at = page.index("Thanks, but the brake still squeaks.")
    assert reply_at < page.index("The brakes squeak.")  # the newest words come first
    assert "Replied by email" in page
    inbox = client.get("/inbox/?tab=done").content.decode()
    assert "Customer replied" in inbox


def test_it_records_customer_replied_once_with_the_customers_words(closed, owner):
    webhook_endpoint_create(
        org=closed.org,
        kind="webhook",
        url="https://crm.example/hooks",
        events=["customer.replied"],
        description="Our CRM",
        touchpoints=[],
        by=owner,
        now=timezone.now(),
    )
    address = reply_address_issue(closed)
    inbound_message_record(raw_bytes=reply(to=address, body=QUOTED), envelope_to=[address])
    inbound_actions_apply(now=timezone.now())
    inbound_actions_apply(now=timezone.now())

    event = OrgEvent.objects.get(type="customer.replied")
    assert event.org_id == closed.org_id
    assert event.payload["action"]["code"] == str(closed.code)
    # Their new words only: the quoted loop email is not part of what they said.
    assert event.payload["text"] == "Thanks, but the brake still squeaks."
    assert event.payload["customer"] == {"email": "jo@example.com"}
