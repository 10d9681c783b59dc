""" "Did it stay fixed?": weeks after a Yes, one question by email; the answer is stored only
from a person's POST, a No reopens the action, and the survey rules (fatigue, opt-out,
bounce) hold."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import OutgoingEmail
from actions import followups
from actions.followups import follow_ups_send_due
from actions.models import Action, ActionEvent, FollowUp, LoopMessage
from actions.services import action_close, loop_message_send, loop_outcome_record
from feedback import queries as dashboard_queries
from feedback import stats
from tests.factories import make_customer

STOCK = 0
WEEKS = 4


@pytest.fixture
def touchpoint(org, owner):
    from tests.factories import make_touchpoint

    return make_touchpoint(org, default_owner=owner, stay_fixed_weeks=WEEKS)


def told_yes(routed, member, org, *, email=None, now=None):
    """An action closed and told, its customer answering Yes; returns the loop message."""
    now = now or timezone.now()
    action = routed(
        {STOCK: False},
        verbatim="The brakes squeak when I stop.",
        customer=make_customer(org, email=email),
        now=now,
    )
    action_close(
        action=action, actor=member, status=Action.Status.DONE, resolution="New pads.", now=now
    )
    message = loop_message_send(
        action=action, actor=member, subject="Brakes", body="Fixed.", now=now
    )[0]
    loop_outcome_record(message=message, outcome=LoopMessage.Outcome.YES, now=now)
    return message


def due_time(message):
    return message.follow_up.due_at + timedelta(minutes=1)


def test_it_schedules_one_follow_up_the_touchpoints_weeks_after_a_yes(routed, owner, org):
    now = timezone.now()
    message = told_yes(routed, owner, org, now=now)
    follow_up = FollowUp.objects.get()
    assert follow_up.loop_message == message
    assert follow_up.due_at == now + timedelta(weeks=WEEKS)
    # Nothing is sent before it is due.
    assert follow_ups_send_due(now=now + timedelta(weeks=WEEKS) - timedelta(minutes=1)) == 0
    assert not OutgoingEmail.objects.filter(kind="follow_up").exists()


def test_it_asks_nothing_when_the_touchpoint_has_it_off(routed, owner, org, touchpoint):
    touchpoint.stay_fixed_weeks = 0
    touchpoint.save()
    told_yes(routed, owner, org)
    assert not FollowUp.objects.exists()


def test_it_asks_nothing_after_a_no(routed, owner, org):
    action = routed({STOCK: False}, verbatim="Squeaky.")
    action_close(
        action=action,
        actor=owner,
        status=Action.Status.DONE,
        resolution="Pads.",
        now=timezone.now(),
    )
    message = loop_message_send(
        action=action, actor=owner, subject="Brakes", body="Fixed.", now=timezone.now()
    )[0]
    loop_outcome_record(message=message, outcome=LoopMessage.Outcome.NO, now=timezone.now())
    assert not FollowUp.objects.exists()


def test_it_emails_once_when_due_and_a_get_records_nothing(client, routed, owner, org):
    message = told_yes(routed, owner, org)
    when = due_time(message)
    assert follow_ups_send_due(now=when) == 1
    assert follow_ups_send_due(now=when) == 0
    email = OutgoingEmail.objects.get(kind="follow_up")
    token = message.response.invitation.token
    assert email.to == message.response.customer.email
    assert f"/f/{token}/still-sorted/?answer=no" in email.body_text
    follow_up = FollowUp.objects.get()
    assert follow_up.sent_at == when
    # A mail scanner opens both links: nothing is recorded, nothing reopens.
    for answer in ("yes", "no"):
        page = client.get(f"/f/{token}/still-sorted/?answer={answer}")
        assert page.status_code == 200
        assert "Is it still sorted?" in page.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.answer == "" and follow_up.answered_at is None
    assert Action.objects.get().status == Action.Status.DONE


def test_it_reopens_the_action_with_the_customers_words_on_a_no(client, routed, owner, org):
    message = told_yes(routed, owner, org)
    follow_ups_send_due(now=due_time(message))
    token = message.response.invitation.token
    page = client.post(
        f"/f/{token}/still-sorted/", {"answer": "no", "comment": "Squeaking again since Monday."}
    )
    assert page.status_code == 200
    assert "reopened" in page.content.decode()
    action = Action.objects.get()
    assert action.status == Action.Status.OPEN and action.reopened_count == 1
    reopened = action.events.get(kind=ActionEvent.Kind.REOPENED)
    assert "Squeaking again since Monday." in reopened.text
    owner_email = OutgoingEmail.objects.get(kind="followup_reopened")
    assert owner_email.to == owner.user.email
    assert "Squeaking again since Monday." in owner_email.body_text
    # The first answer stands: a second press changes nothing.
    client.post(f"/f/{token}/still-sorted/", {"answer": "yes"})
    assert FollowUp.objects.get().answer == FollowUp.Answer.NO


def test_a_yes_leaves_the_action_closed(client, routed, owner, org):
    message = told_yes(routed, owner, org)
    follow_ups_send_due(now=due_time(message))
    client.post(f"/f/{message.response.invitation.token}/still-sorted/", {"answer": "yes"})
    assert FollowUp.objects.get().answer == FollowUp.Answer.YES
    assert Action.objects.get().status == Action.Status.DONE


def test_the_page_is_a_404_before_a_follow_up_was_sent(client, routed, owner, org):
    message = told_yes(routed, owner, org)
    token = message.response.invitation.token
    assert client.get(f"/f/{token}/still-sorted/").status_code == 404
    assert client.post(f"/f/{token}/still-sorted/", {"answer": "no"}).status_code == 404
    assert Action.objects.get().status == Action.Status.DONE


def test_it_skips_opted_out_bounced_and_recently_surveyed_customers(routed, owner, org):
    opted = told_yes(routed, owner, org)
    bounced = told_yes(routed, owner, org)
    tired = told_yes(routed, owner, org)
    fine = told_yes(routed, owner, org)
    when = due_time(fine)
    opted.response.customer.__class__.objects.filter(pk=opted.response.customer_id).update(
        opted_out_at=when - timedelta(days=3)
    )
    bounced.response.customer.__class__.objects.filter(pk=bounced.response.customer_id).update(
        bounced_at=when - timedelta(days=3)
    )
    # Surveyed within the business's fatigue days (30 by default).
    tired.response.customer.__class__.objects.filter(pk=tired.response.customer_id).update(
        last_surveyed_at=when - timedelta(days=org.fatigue_days - 1)
    )
    assert follow_ups_send_due(now=when) == 4
    reasons = {
        f.loop_message_id: (f.skip_reason, f.sent_at is not None) for f in FollowUp.objects.all()
    }
    assert reasons == {
        opted.pk: ("opted_out", False),
        bounced.pk: ("bounced", False),
        tired.pk: ("fatigue", False),
        fine.pk: ("", True),
    }
    assert list(OutgoingEmail.objects.filter(kind="follow_up").values_list("to", flat=True)) == [
        fine.response.customer.email
    ]


def test_it_skips_a_follow_up_once_the_action_was_reopened(routed, owner, org):
    from actions.services import action_reopen

    message = told_yes(routed, owner, org)
    action_reopen(
        action=message.action, actor=owner, reason="Came back by phone.", now=timezone.now()
    )
    follow_ups_send_due(now=due_time(message))
    assert FollowUp.objects.get().skip_reason == FollowUp.Skip.REOPENED
    assert not OutgoingEmail.objects.filter(kind="follow_up").exists()


def test_one_bad_row_never_stops_the_sweep(routed, owner, org, monkeypatch):
    bad = told_yes(routed, owner, org)
    good = told_yes(routed, owner, org)
    real = followups.email_build

    def build(**kwargs):
        if kwargs["to"] == bad.response.customer.email:
            raise ValueError("template exploded")
        return real(**kwargs)

    monkeypatch.setattr(followups, "email_build", build)
    follow_ups_send_due(now=due_time(good))
    bad_row = FollowUp.objects.get(loop_message=bad)
    assert bad_row.sent_at is None and bad_row.attempts == 1
    assert "template exploded" in bad_row.last_error
    assert FollowUp.objects.get(loop_message=good).sent_at is not None
    # After a few tries it is set aside for good.
    for _ in range(followups.GIVE_UP_AFTER):
        follow_ups_send_due(now=due_time(good))
    bad_row.refresh_from_db()
    assert bad_row.skip_reason == FollowUp.Skip.FAILED


def test_it_counts_stayed_fixed_of_those_answered_on_the_dashboard(
    client, owner_client, routed, owner, org
):
    answers = ["yes", "yes", "no"]
    messages = [told_yes(routed, owner, org) for _ in answers]
    follow_ups_send_due(now=timezone.now() + timedelta(weeks=WEEKS, minutes=1))
    for message, answer in zip(messages, answers, strict=True):
        client.post(f"/f/{message.response.invitation.token}/still-sorted/", {"answer": answer})
    told_yes(routed, owner, org)  # asked, never answered: not counted
    window = stats.window_for(org, 30, timezone.now() + timedelta(minutes=1))
    assert dashboard_queries.stayed_fixed(org, window) == {"answered": 3, "stayed": 2}
    page = owner_client.get("/dashboard/").content.decode()
    card = page.split('data-figure="stayed-fixed"')[1].split("</div></div>")[0]
    assert "2 of 3" in card
