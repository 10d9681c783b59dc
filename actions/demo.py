"""The demo business's routing rules and actions, in the states a real week leaves them:
done and told (twice, with consent to quote), won't do, in progress with a note, overdue, and
open. Idempotent: rules are matched by name, responses are routed by ``response_route`` (which
never opens a second action), and states are only set on actions this run opened."""

from datetime import timedelta

from django.utils import timezone

from surveys.models import Question, Response

from .models import Action, Kind, RoutingRule
from .routing import response_route
from .services import (
    action_close,
    action_note_add,
    action_status_set,
    loop_message_draft,
    loop_message_send,
)


def seed(people, touchpoints) -> None:
    _rules(people)
    responses = {
        r.invitation.interaction.reference: r
        for r in Response.objects.filter(org=people.org, submitted_at__isnull=False)
        .select_related("invitation__interaction")
        .order_by("submitted_at")
    }
    if not responses:
        return  # no sample answers yet: nothing to route
    now = timezone.now()
    for reference, response in responses.items():
        plan = PLANS.get(reference)
        if hasattr(response, "action_link"):
            continue  # routed on an earlier run; leave whatever happened to it since
        opened_at = _opened_at(plan, response, now)
        action = response_route(response_id=response.pk, now=opened_at)
        if action is not None and plan is not None:
            plan["apply"](action, people, opened_at)


def _question_key(org, text):
    question = Question.objects.filter(version__survey__org=org, text=text).first()
    return question.key if question else None


def _rules(people) -> None:
    org, owner = people.org, people.owner
    priya = next((m for m in people.staff if m.first_name == "Priya"), people.staff[-1])
    specs = [
        (
            "Out of stock goes to Priya",
            RoutingRule.Condition.NO_ON_QUESTION,
            "Was what you needed in stock?",
            RoutingRule.OwnerStrategy.MEMBER,
            [priya],
            1,
            Kind.PROBLEM,
        ),
        (
            "Staff knowledge goes to Robin",
            RoutingRule.Condition.NO_ON_QUESTION,
            "Did our staff know what they were talking about?",
            RoutingRule.OwnerStrategy.MEMBER,
            [owner],
            2,
            Kind.PROBLEM,
        ),
        (
            "Any other “No”",
            RoutingRule.Condition.ANY_NO,
            None,
            RoutingRule.OwnerStrategy.INTERACTION_STAFF,
            [],
            2,
            Kind.PROBLEM,
        ),
        (
            "A low rating",
            RoutingRule.Condition.RATING_AT_MOST,
            None,
            RoutingRule.OwnerStrategy.INTERACTION_STAFF,
            [],
            2,
            Kind.PROBLEM,
        ),
        (
            "Kind words and anything else they wrote",
            RoutingRule.Condition.ANY_TEXT,
            None,
            RoutingRule.OwnerStrategy.INTERACTION_STAFF,
            [],
            3,
            Kind.PRAISE,
        ),
    ]
    for position, (name, condition, question, strategy, members, days, kind) in enumerate(specs):
        if RoutingRule.objects.filter(org=org, name=name).exists():
            continue
        key = _question_key(org, question) if question else None
        if question and key is None:
            continue  # the survey doesn't ask this question
        rule = RoutingRule.objects.create(
            org=org,
            name=name,
            position=position,
            condition=condition,
            question_key=key,
            threshold=2 if condition == RoutingRule.Condition.RATING_AT_MOST else None,
            owner_strategy=strategy,
            deadline_amount=days,
            kind=kind,
        )
        rule.members.set(members)


def _opened_at(plan, response, now):
    if plan and plan.get("opened_ago") is not None:
        return now - plan["opened_ago"]
    return response.submitted_at


def _close_and_tell(status, resolution, after):
    def apply(action, people, opened_at):
        closer = action.owner or people.owner
        closed_at = opened_at + after
        action_close(
            action=action, actor=closer, status=status, resolution=resolution, now=closed_at
        )
        subject, body = loop_message_draft(action=action, member=closer)
        loop_message_send(
            action=action,
            actor=closer,
            subject=subject,
            body=body,
            now=closed_at + timedelta(minutes=10),
        )

    return apply


def _in_progress(note):
    def apply(action, people, opened_at):
        actor = action.owner or people.owner
        action_status_set(
            action=action,
            actor=actor,
            status=Action.Status.IN_PROGRESS,
            now=opened_at + timedelta(hours=1),
        )
        action_note_add(action=action, actor=actor, text=note, now=opened_at + timedelta(hours=2))

    return apply


def _leave_open(action, people, opened_at):
    return None


PLANS = {
    # Jo: out of stock, routed to Priya, done and told (consented to quoting).
    "demo-1": {
        "apply": _close_and_tell(
            Action.Status.DONE,
            "Brake pads are now on a weekly reorder, and when a part is out of stock we take your "
            "number and text you the day it arrives.",
            timedelta(hours=20),
        )
    },
    # Ana: repair late, done and told (consented).
    "demo-2": {
        "apply": _close_and_tell(
            Action.Status.DONE,
            "We now text every repair customer when their bike is ready, and again if it's running "
            "late. Your next service is on us.",
            timedelta(hours=26),
        )
    },
    # Dan: the Saturday queue: won't do, with the reason.
    "demo-8": {
        "apply": _close_and_tell(
            Action.Status.WONT_DO,
            "We looked hard at a second till on Saturdays, but we can't staff it this season. "
            "We've moved repair collections to the workshop door so the shop queue is shorter.",
            timedelta(hours=5),
        )
    },
    # Raj: price differs from the website: in progress with a note.
    "demo-6": {
        "opened_ago": timedelta(days=1),
        "apply": _in_progress(
            "Website price feed is a day behind the till. Asked our web person to sync nightly; "
            "will refund Raj the £10 difference."
        ),
    },
    # Lee and Tom: kind words, open and due soon.
    "demo-3": {"opened_ago": timedelta(hours=6), "apply": _leave_open},
    "demo-4": {"opened_ago": timedelta(hours=1), "apply": _leave_open},
    # Mia (phone, never picked up) is routed when she answered: it is overdue now.
}
