"""Mail that comes back, as it concerns customers: bounces and complaints stop the surveys,
and a reply to a survey email becomes the customer's words."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.inbound import inbound_message_record
from accounts.models import InboundAddress, InboundEvent, OutgoingEmail
from surveys.inbound import inbound_customers_apply
from surveys.models import Customer, Invitation
from surveys.sending import invitations_send_due
from surveys.services import customer_bounce_clear
from tests.accounts.fixtures.mail import arf, dsn, reply, returned_headers
from tests.factories import make_invitation

pytestmark = pytest.mark.django_db


def emailed(touchpoint, **kw):
    now = timezone.now()
    invitation = make_invitation(
        touchpoint,
        status=Invitation.Status.SCHEDULED,
        sent_at=None,
        survey_version=None,
        due_at=now - timedelta(minutes=1),
        occurred_at=now - timedelta(hours=1),
        **kw,
    )
    invitations_send_due(now=now)
    invitation.refresh_from_db()
    outgoing = OutgoingEmail.objects.get(key=f"invitation:{invitation.pk}")
    return invitation, outgoing


def test_it_gives_every_survey_email_a_reply_address_for_that_invitation(touchpoint):
    invitation, outgoing = emailed(touchpoint)
    assert outgoing.reply_to.startswith("r-") and outgoing.reply_to.endswith("@reply.localhost")
    row = InboundAddress.resolve(outgoing.reply_to)
    assert row.purpose == "reply_invitation" and row.target == str(invitation.code)
    assert mail.outbox[-1].reply_to == [outgoing.reply_to]


def test_a_hard_bounce_marks_the_customer_and_their_next_invitation_says_so(touchpoint):
    invitation, outgoing = emailed(touchpoint)
    inbound_message_record(
        raw_bytes=dsn(to="postmaster@reply.localhost", returned=returned_headers(outgoing)),
        envelope_to=["postmaster@reply.localhost"],
    )
    assert inbound_customers_apply(now=timezone.now()) == 1
    customer = Customer.objects.get(pk=invitation.customer_id)
    assert customer.bounced_at is not None

    now = timezone.now()
    later = make_invitation(
        touchpoint,
        customer=customer,
        status=Invitation.Status.SCHEDULED,
        sent_at=None,
        survey_version=None,
        due_at=now - timedelta(minutes=1),
        occurred_at=now - timedelta(hours=1),
    )
    # Even a customer who is also fatigued and opted out reads "bounced": that comes first.
    Customer.objects.filter(pk=customer.pk).update(opted_out_at=now, last_surveyed_at=now)
    invitations_send_due(now=now)
    later.refresh_from_db()
    assert later.status == "skipped" and later.skip_reason == Invitation.SkipReason.BOUNCED


def test_a_complaint_opts_the_customer_out(touchpoint):
    invitation, outgoing = emailed(touchpoint)
    inbound_message_record(
        raw_bytes=arf(to="abuse@reply.localhost", returned=returned_headers(outgoing)),
        envelope_to=["abuse@reply.localhost"],
    )
    inbound_customers_apply(now=timezone.now())
    assert Customer.objects.get(pk=invitation.customer_id).opted_out_at is not None


def test_three_temporary_failures_in_thirty_days_count_as_a_bounce(touchpoint):
    invitation, outgoing = emailed(touchpoint)
    for n in range(3):
        inbound_message_record(
            raw_bytes=dsn(
                to=f"mx{n}@reply.localhost",
                returned=returned_headers(outgoing),
                action="delayed",
                status="4.2.2",
                diagnostic="smtp; 452 4.2.2 Mailbox full",
            ),
            envelope_to=[f"mx{n}@reply.localhost"],
        )
        inbound_customers_apply(now=timezone.now())
        bounced = Customer.objects.get(pk=invitation.customer_id).bounced_at
        assert (bounced is not None) == (n == 2)


def test_a_reply_to_the_survey_email_becomes_the_customers_words(
    touchpoint, django_capture_on_commit_callbacks
):
    from actions.models import RoutingRequest

    invitation, outgoing = emailed(touchpoint)
    body = (
        "The brake still squeaks, sorry.\n\n"
        "On Mon, 30 Nov 2026 at 09:00, Alpha Bikes <heard@localhost> wrote:\n"
        "> How did we do?\n> Was it ready when we said it would be?\n"
    )
    inbound_message_record(
        raw_bytes=reply(to=outgoing.reply_to, body=body), envelope_to=[outgoing.reply_to]
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert inbound_customers_apply(now=timezone.now()) == 1
    invitation.refresh_from_db()
    assert invitation.response.verbatim == "The brake still squeaks, sorry."
    assert invitation.response.submitted_at is not None
    event = InboundEvent.objects.get(kind="reply")
    assert event.processed_at is not None
    # It routes like any other response (the signal fires on commit).
    assert RoutingRequest.objects.filter(response=invitation.response).exists()


def test_the_business_gets_a_survey_reply_at_its_own_reply_to_address(touchpoint, org):
    org.reply_to = "hello@alpha.example"
    org.save()
    _invitation, outgoing = emailed(touchpoint)
    inbound_message_record(
        raw_bytes=reply(to=outgoing.reply_to, body="Quick and friendly, thanks!"),
        envelope_to=[outgoing.reply_to],
    )
    inbound_customers_apply(now=timezone.now())
    inbound_customers_apply(now=timezone.now())
    (forward,) = OutgoingEmail.objects.filter(kind="survey_reply_forward")
    assert forward.to == "hello@alpha.example" and "jo@example.com" in forward.reply_to
    assert "Quick and friendly, thanks!" in forward.body_text


def test_an_auto_reply_to_a_survey_email_is_kept_but_says_nothing(touchpoint):
    invitation, outgoing = emailed(touchpoint)
    inbound_message_record(
        raw_bytes=reply(
            to=outgoing.reply_to,
            body="I am out of the office until Monday.",
            subject="Out of office: How did we do?",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        envelope_to=[outgoing.reply_to],
    )
    inbound_customers_apply(now=timezone.now())
    invitation.refresh_from_db()
    assert not hasattr(invitation, "response") or not invitation.response.verbatim
    assert InboundEvent.objects.get().processed_at is not None


def test_one_broken_event_does_not_stop_the_others(touchpoint, monkeypatch):
    from surveys import inbound

    _first, outgoing = emailed(touchpoint)
    second, other = emailed(touchpoint)
    for email in (outgoing, other):
        inbound_message_record(
            raw_bytes=dsn(to="pm@reply.localhost", returned=returned_headers(email)),
            envelope_to=["pm@reply.localhost"],
        )
    real = inbound._delivery_trouble

    def broken_for_first(event, now):
        if event.outgoing_id == outgoing.pk:
            raise RuntimeError("odd row")
        return real(event, now)

    monkeypatch.setattr(inbound, "_delivery_trouble", broken_for_first)
    inbound_customers_apply(now=timezone.now())
    assert Customer.objects.get(pk=second.customer_id).bounced_at is not None
    broken = InboundEvent.objects.get(outgoing=outgoing)
    assert broken.processed_at is None and "odd row" in broken.last_error


def test_the_invitation_list_shows_each_email_state_in_one_query(
    owner_client, touchpoint, django_assert_max_num_queries
):
    _delivered, out_delivered = emailed(touchpoint)
    _bounced, out_bounced = emailed(touchpoint)
    _complained, out_complained = emailed(touchpoint)
    now = timezone.now()
    OutgoingEmail.objects.filter(pk=out_delivered.pk).update(delivered_at=now)
    OutgoingEmail.objects.filter(pk=out_bounced.pk).update(bounced_at=now)
    OutgoingEmail.objects.filter(pk=out_complained.pk).update(complained_at=now)
    with django_assert_max_num_queries(8):
        html = owner_client.get("/surveys/invitations/").content.decode()
    states = re.findall(r'data-email-state="(\w+)"', html)
    assert sorted(states) == ["bounced", "complained", "delivered"]


def test_an_owner_clears_a_bounce_after_confirming_and_it_is_recorded(
    owner_client, owner, touchpoint
):
    invitation, _outgoing = emailed(touchpoint)
    when = timezone.now() - timedelta(days=2)
    Customer.objects.filter(pk=invitation.customer_id).update(bounced_at=when)
    html = owner_client.get("/surveys/invitations/").content.decode()
    assert "Clear the bounce" in html and "Yes, clear the bounce" in html
    answer = owner_client.post("/surveys/invitations/", {"clear_bounce": str(invitation.code)})
    assert answer.status_code == 302
    customer = Customer.objects.get(pk=invitation.customer_id)
    assert customer.bounced_at is None
    assert customer.bounce_cleared_by == owner and customer.bounce_cleared_at is not None
    assert "Clear the bounce" not in owner_client.get("/surveys/invitations/").content.decode()


def test_a_complaint_cannot_be_cleared_by_the_owner(owner_client, touchpoint):
    invitation, outgoing = emailed(touchpoint)
    now = timezone.now()
    Customer.objects.filter(pk=invitation.customer_id).update(opted_out_at=now)
    OutgoingEmail.objects.filter(pk=outgoing.pk).update(complained_at=now)
    html = owner_client.get("/surveys/invitations/").content.decode()
    assert "Clear the bounce" not in html and "only the customer can ask" in html
    owner_client.post("/surveys/invitations/", {"clear_bounce": str(invitation.code)})
    assert Customer.objects.get(pk=invitation.customer_id).opted_out_at == now


def test_only_the_business_owner_clears_its_bounces(outsider_client, teammate_client, touchpoint):
    invitation, _ = emailed(touchpoint)
    Customer.objects.filter(pk=invitation.customer_id).update(bounced_at=timezone.now())
    data = {"clear_bounce": str(invitation.code)}
    assert outsider_client.post("/surveys/invitations/", data).status_code == 404
    assert outsider_client.post("/surveys/invitations/", {"clear_bounce": "x"}).status_code == 404
    teammate_client.post("/surveys/invitations/", data)
    assert Customer.objects.get(pk=invitation.customer_id).bounced_at is not None


def test_deferrals_from_before_a_cleared_bounce_do_not_bounce_it_again(owner, touchpoint):
    invitation, outgoing = emailed(touchpoint)
    for n in range(2):
        InboundEvent.objects.create(
            org=touchpoint.org,
            source="test",
            kind="deferred",
            dedupe_key=f"old-deferral-{n}",
            outgoing=outgoing,
            received_at=timezone.now() - timedelta(days=3),
            processed_at=timezone.now(),
        )
    customer = Customer.objects.get(pk=invitation.customer_id)
    customer.bounced_at = timezone.now() - timedelta(days=3)
    customer.save()
    customer_bounce_clear(customer=customer, member=owner, now=timezone.now())
    InboundEvent.objects.create(
        org=touchpoint.org, source="test", kind="deferred", dedupe_key="new", outgoing=outgoing
    )
    inbound_customers_apply(now=timezone.now())
    assert Customer.objects.get(pk=customer.pk).bounced_at is None
