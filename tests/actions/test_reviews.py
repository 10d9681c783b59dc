"""Reviews, without gating: every customer whose loop closed is offered the business's review
link, whatever they answered, a day after the loop message and at most once by email."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.forms import OrganisationForm
from accounts.models import OutgoingEmail
from actions.models import Action, LoopMessage, ReviewOffer
from actions.reviews import review_offers_send_due
from actions.services import (
    action_close,
    action_merge,
    action_reopen,
    loop_message_send,
    loop_outcome_record,
)
from surveys.models import Customer
from tests.factories import make_customer

STOCK = 0
REVIEW = "https://g.page/r/alpha-bikes/review"
DAY = timedelta(days=1)


@pytest.fixture
def org(org):
    org.review_url = REVIEW
    org.save()
    return org


def close_and_tell(action, member, now):
    action_close(
        action=action, actor=member, status=Action.Status.DONE, resolution="Fixed.", now=now
    )
    return loop_message_send(action=action, actor=member, subject="Fixed", body="Done.", now=now)


def offers_sent():
    return sorted(OutgoingEmail.objects.filter(kind="review_offer").values_list("to", flat=True))


def test_it_offers_every_closed_loop_the_link_whatever_they_answered(routed, owner, org):
    now = timezone.now()
    customers = [make_customer(org) for _ in range(3)]
    first, *others = [routed({STOCK: False}, customer=c, verbatim="No tubes.") for c in customers]
    for other in others:
        action_merge(action=first, actor=owner, other=other, now=now)
    messages = close_and_tell(first, owner, now)
    assert len(messages) == 3
    by_customer = {m.response.customer_id: m for m in messages}
    loop_outcome_record(
        message=by_customer[customers[0].pk], outcome=LoopMessage.Outcome.YES, now=timezone.now()
    )
    loop_outcome_record(
        message=by_customer[customers[1].pk], outcome=LoopMessage.Outcome.NO, now=timezone.now()
    )
    # customers[2] never answers.
    assert review_offers_send_due(now=now + DAY - timedelta(minutes=1)) == 0
    assert offers_sent() == []
    review_offers_send_due(now=now + DAY)
    assert offers_sent() == sorted(c.email for c in customers)
    bodies = OutgoingEmail.objects.filter(kind="review_offer").values_list("body_text", flat=True)
    # The same offer for everyone (all three are Pat): no wording depends on the answer.
    assert len(set(bodies)) == 1
    assert all(REVIEW in body for body in bodies)


def test_it_emails_a_customer_the_offer_only_once(routed, owner, org):
    now = timezone.now()
    customer = make_customer(org)
    action = routed({STOCK: False}, customer=customer, verbatim="Squeaky.")
    close_and_tell(action, owner, now)
    action_reopen(action=action, actor=owner, reason="Came back.", now=now + timedelta(hours=1))
    close_and_tell(action, owner, now + timedelta(hours=2))
    later = routed({STOCK: False}, customer=customer, verbatim="Again.")
    close_and_tell(later, owner, now + timedelta(hours=3))
    assert ReviewOffer.objects.count() == 3
    review_offers_send_due(now=now + 2 * DAY)
    review_offers_send_due(now=now + 3 * DAY)
    assert offers_sent() == [customer.email]
    skipped = ReviewOffer.objects.exclude(sent_at__isnull=False)
    assert set(skipped.values_list("skip_reason", flat=True)) == {"already"}


def test_it_never_emails_opted_out_or_bounced_customers(routed, owner, org):
    now = timezone.now()
    opted, bounced, fine = (make_customer(org) for _ in range(3))
    for customer in (opted, bounced, fine):
        close_and_tell(routed({STOCK: False}, customer=customer, verbatim="Slow."), owner, now)
    Customer.objects.filter(pk=opted.pk).update(opted_out_at=now)
    Customer.objects.filter(pk=bounced.pk).update(bounced_at=now)
    review_offers_send_due(now=now + DAY)
    assert offers_sent() == [fine.email]
    reasons = dict(ReviewOffer.objects.values_list("customer_id", "skip_reason"))
    assert reasons == {opted.pk: "opted_out", bounced.pk: "bounced", fine.pk: ""}


def test_it_emails_nothing_while_the_business_has_no_link(routed, owner, org):
    org.review_url = ""
    org.save()
    now = timezone.now()
    close_and_tell(routed({STOCK: False}, verbatim="Slow."), owner, now)
    review_offers_send_due(now=now + DAY)
    assert offers_sent() == []
    assert ReviewOffer.objects.get().skip_reason == ReviewOffer.Skip.NO_LINK


def test_the_status_page_offers_the_link_once_the_loop_closed(client, routed, owner, org):
    action = routed({STOCK: False}, verbatim="Slow.")
    token = action.response.invitation.token
    assert REVIEW not in client.get(f"/f/{token}/").content.decode()
    action_close(
        action=action,
        actor=owner,
        status=Action.Status.DONE,
        resolution="Faster.",
        now=timezone.now(),
    )
    assert REVIEW not in client.get(f"/f/{token}/").content.decode()  # not told yet
    [message] = loop_message_send(
        action=action, actor=owner, subject="Fixed", body="Done.", now=timezone.now()
    )
    assert REVIEW in client.get(f"/f/{token}/").content.decode()
    loop_outcome_record(message=message, outcome=LoopMessage.Outcome.NO, now=timezone.now())
    # A No reopens the action; the offer was made to them all the same, by email.
    assert ReviewOffer.objects.filter(loop_message=message).exists()


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://www.trustpilot.com/review/alpha.example", True),
        ("http://www.trustpilot.com/review/alpha.example", False),
        ("javascript:alert(1)", False),
        ("ftp://example.com/review", False),
        ("", True),
    ],
)
def test_the_review_link_must_be_https(org, url, ok):
    data = {
        "name": org.name,
        "timezone": org.timezone,
        "working_days": ["0", "1", "2", "3", "4"],
        "work_starts": "09:00",
        "work_ends": "17:30",
        "brand_colour": "#1f6f5c",
        "quiet_starts": "21:00",
        "quiet_ends": "08:00",
        "fatigue_days": "30",
        "survey_reminder_days": "3",
        "invitation_expiry_days": "30",
        "review_url": url,
    }
    form = OrganisationForm(data, instance=org)
    assert form.is_valid() is ok, form.errors
    if ok:
        assert form.save().review_url == url


def test_a_settings_post_without_the_field_keeps_the_link(org):
    data = {
        "name": org.name,
        "timezone": org.timezone,
        "working_days": ["0", "1", "2", "3", "4"],
        "work_starts": "09:00",
        "work_ends": "17:30",
        "brand_colour": "#1f6f5c",
        "quiet_starts": "21:00",
        "quiet_ends": "08:00",
        "fatigue_days": "30",
        "survey_reminder_days": "3",
        "invitation_expiry_days": "30",
    }
    form = OrganisationForm(data, instance=org)
    assert form.is_valid(), form.errors
    assert form.save().review_url == REVIEW
