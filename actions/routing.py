"""Routing: which rule matches a response, who owns the action it opens and by when, and the
owners' rules themselves.

The decisions (``first_matching_rule``, ``choose_owner``, ``words_of``…) are pure, over rows
already loaded. ``response_route`` and ``routing_requests_route`` orchestrate them: lock the
response, decide, then open or update its action through ``services`` (which owns the Action
rows and their history). The rule rows (``routing_rules_materialise`` and the rest) are written
here.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F

from accounts.hooks import org_event_record, org_listens
from accounts.models import Membership, Organisation, OrgEvent
from surveys.models import Answer, Question, Response

from . import deadlines, services
from .models import Action, ActionResponse, Kind, RoutingRequest, RoutingRule

log = logging.getLogger(__name__)
MAX_ROUTING_ATTEMPTS = 5

# Built-in rules for an organisation that has none yet (the "sensible defaults"):
# a negative answer or any free text opens an action for the staff member who served the
# customer, falling back to the touchpoint's owner and then an owner, due in 2 working days.
# They are unsaved rows: routing reads them, and the rules page turns them into real rows the
# moment an owner starts customising.
DEFAULT_RULES = [
    {"name": "Any “No” answer", "condition": RoutingRule.Condition.ANY_NO, "kind": Kind.PROBLEM},
    {
        "name": "A rating of 2 or less",
        "condition": RoutingRule.Condition.RATING_AT_MOST,
        "threshold": 2,
        "kind": Kind.PROBLEM,
    },
    {
        "name": "Anything the customer wrote",
        "condition": RoutingRule.Condition.ANY_TEXT,
        "kind": Kind.SUGGESTION,
    },
]


def default_rules(org) -> list[RoutingRule]:
    return [
        RoutingRule(
            org=org,
            position=position,
            owner_strategy=RoutingRule.OwnerStrategy.INTERACTION_STAFF,
            deadline_amount=2,
            deadline_unit=RoutingRule.DeadlineUnit.WORKING_DAYS,
            **spec,
        )
        for position, spec in enumerate(DEFAULT_RULES)
    ]


def rules_for(org) -> list[RoutingRule]:
    """The organisation's active rules in order; the built-in defaults when it has no rules
    at all (an organisation that switched every rule off gets no actions, as it asked)."""
    rules = list(RoutingRule.objects.filter(org=org).prefetch_related("members__user"))
    if not rules:
        return default_rules(org)
    return [rule for rule in rules if rule.active]


def _free_text(response: Response, answers: list[Answer]) -> str:
    parts = [response.verbatim.strip()]
    parts += [a.text.strip() for a in answers if a.question.kind == Question.Kind.TEXT]
    return "\n\n".join(p for p in parts if p)


def rule_matches(rule: RoutingRule, response: Response, answers: list[Answer], touchpoint_id):
    """True when ``rule`` applies to this response."""
    if rule.touchpoint_id and rule.touchpoint_id != touchpoint_id:
        return False
    Condition = RoutingRule.Condition
    on_question = [a for a in answers if rule.question_key and a.question.key == rule.question_key]
    scope = on_question if rule.question_key else answers
    match rule.condition:
        case Condition.EVERY:
            return True
        case Condition.ANY_TEXT:
            return bool(_free_text(response, answers))
        case Condition.ANY_NO:
            return any(a.is_no for a in scope)
        case Condition.NO_ON_QUESTION:
            return any(a.is_no for a in on_question)
        case Condition.RATING_AT_MOST:
            limit = rule.threshold if rule.threshold is not None else 2
            return any(a.rating_at_most(limit) for a in scope)
        case Condition.CHOICE_IS:
            return any(a.choice_is(rule.choice) for a in scope)
    return False


def first_matching_rule(rules, response, answers, touchpoint_id) -> RoutingRule | None:
    return next((r for r in rules if rule_matches(r, response, answers, touchpoint_id)), None)


def words_of(response: Response, answers: list[Answer]) -> str:
    """The customer's own words: the comment box and any free-text answers."""
    return _free_text(response, answers)


def summary_of(answers: list[Answer]) -> str:
    """The negative answers in a line, for an action whose customer wrote nothing."""
    bits = [f"{a.display_value}: {a.question.text}" for a in answers if a.is_negative]
    return "; ".join(bits)[:300]


@dataclass
class OwnerChoice:
    member: Membership | None
    advance_round_robin: bool = False


def choose_owner(rule: RoutingRule, *, interaction, touchpoint, org) -> OwnerChoice:
    """The member who owns a new action under ``rule``. Whatever the strategy, nobody is
    left without an owner: it falls back to the touchpoint's default owner, then an owner."""
    Strategy = RoutingRule.OwnerStrategy
    member, advance = None, False
    if rule.owner_strategy == Strategy.INTERACTION_STAFF and interaction is not None:
        member = interaction.staff
    elif rule.owner_strategy == Strategy.MEMBER and rule.pk:
        member = next(iter(_members(rule)), None)
    elif rule.owner_strategy == Strategy.ROUND_ROBIN and rule.pk:
        members = _members(rule)
        if members:
            member = members[rule.round_robin_next % len(members)]
            advance = True
    if member is not None and member.org_id != org.pk:
        member = None
    if member is None and touchpoint is not None:
        member = touchpoint.default_owner
    if member is None:
        member = org.owners().order_by("created_at", "pk").first()
    return OwnerChoice(member=member, advance_round_robin=advance)


def _members(rule: RoutingRule) -> list[Membership]:
    return sorted(rule.members.all(), key=lambda m: m.pk)


# Routing a response -------------------------------------------------------------------------------


def response_route(*, response_id: int, now: datetime, changed: bool = False) -> Action | None:
    """Apply the organisation's routing rules to a submitted (or changed) response.

    Returns the response's action, or None when no rule wants one. Safe to call any number
    of times: a response has at most one action (ActionResponse is one-to-one with it), and
    a changed response updates that action rather than opening another.

    The ``route_responses`` sweep calls it for each pending RoutingRequest; it writes rows
    only (the owner's email is queued in the outbox).
    """
    with transaction.atomic():
        # Lock the response: two deliveries of the same signal route it once.
        locked = Response.objects.select_for_update().filter(pk=response_id).first()
        if locked is None or locked.submitted_at is None:
            return None
        response = Response.objects.select_related(
            "org",
            "customer",
            "invitation__interaction__touchpoint__default_owner__user",
            "invitation__interaction__staff__user",
        ).get(pk=response_id)
        answers = list(
            Answer.objects.filter(response=response)
            .select_related("question")
            .order_by("question__position", "question_id")
        )
        link = ActionResponse.objects.select_related("action").filter(response=response).first()
        if link is not None:
            if changed:
                _action_response_changed(link.action, response, answers, now)
            return link.action
        if not changed:
            # Here rather than in surveys.services.response_save: every submitted response
            # passes through this sweep, and the survey page's submit has no queries to spare.
            _response_created_record(response, answers, now)
        return _action_open(response, answers, now)


def routing_requests_route(*, now: datetime, batch: int = 100) -> int:
    """Route pending responses, claiming them so parallel sweeps never route one twice.

    Returns how many were routed. A failure is recorded on its request, which stays pending
    (and is retried by the next sweep) while the rest of the batch goes on.
    """
    routed = 0
    with transaction.atomic():
        pending = list(
            RoutingRequest.objects.filter(routed_at=None, attempts__lt=MAX_ROUTING_ATTEMPTS)
            .select_for_update(skip_locked=True)
            .order_by("requested_at")[:batch]
        )
        for request in pending:
            try:
                response_route(response_id=request.response_id, changed=request.changed, now=now)
            except Exception as exc:  # recorded on the row; the batch goes on
                log.exception("Routing response %s failed", request.response_id)
                request.attempts += 1
                request.last_error = str(exc)[:2000]
                request.save(update_fields=["attempts", "last_error"])
                continue
            request.routed_at = now
            request.save(update_fields=["routed_at"])
            routed += 1
    return routed


def _action_open(response: Response, answers, now) -> Action | None:
    org = response.org
    interaction = response.invitation.interaction
    touchpoint = interaction.touchpoint
    rule = first_matching_rule(rules_for(org), response, answers, interaction.touchpoint_id)
    if rule is None:
        return None
    if rule.pk and rule.owner_strategy == RoutingRule.OwnerStrategy.ROUND_ROBIN:
        # Read the turn under a lock so two routings at once don't pick the same person.
        rule.round_robin_next = (
            RoutingRule.objects.select_for_update()
            .values_list("round_robin_next", flat=True)
            .get(pk=rule.pk)
        )
    choice = choose_owner(rule, interaction=interaction, touchpoint=touchpoint, org=org)
    if choice.advance_round_robin:
        RoutingRule.objects.filter(pk=rule.pk).update(round_robin_next=F("round_robin_next") + 1)
    return services.action_open(
        response=response,
        rule=rule,
        owner=choice.member,
        due_at=deadlines.deadline_for(
            now, amount=rule.deadline_amount, unit=rule.deadline_unit, org=org
        ),
        words=words_of(response, answers),
        summary=summary_of(answers),
        now=now,
    )


def _response_created_record(response: Response, answers: list[Answer], now) -> None:
    """``response.created`` for webhooks and chat, with the data README's "Webhooks and chat"
    documents: the answers and the customer's words, never their address. Recorded once per
    response, under its key: a response that opened no action has no link to show it was
    routed before. The payload is built only for a business that listens at all."""
    org = response.org
    if not org_listens(org):
        return
    invitation = response.invitation
    interaction = invitation.interaction
    touchpoint = interaction.touchpoint
    data = {
        "invitation": str(invitation.code),
        "reference": interaction.reference,
        "submitted_at": response.submitted_at,
        "verbatim": response.verbatim,
        "consent_to_quote": response.consent_to_quote,
        # The question's kind names the Answer field that holds its value.
        "answers": [
            {
                "question": a.question.text,
                "kind": a.question.kind,
                a.question.kind: getattr(a, a.question.kind),
            }
            for a in answers
        ],
        "touchpoint": {
            "code": str(touchpoint.code),
            "slug": touchpoint.slug,
            "name": touchpoint.name,
        },
    }
    org_event_record(
        org=org,
        type=OrgEvent.Type.RESPONSE_CREATED,
        payload={"response": data},
        now=now,
        key=f"response.created:{response.pk}",
    )


def _action_response_changed(action: Action, response: Response, answers, now) -> None:
    services.action_response_changed(
        action=action,
        response=response,
        words=words_of(response, answers),
        summary=summary_of(answers),
        now=now,
    )


# Routing rules (owners) ------------------------------------------------------------------


def routing_rules_materialise(*, org: Organisation) -> list[RoutingRule]:
    """Turn the built-in defaults into the organisation's own rows, to edit from there."""
    with transaction.atomic():
        if RoutingRule.objects.select_for_update().filter(org=org).exists():
            return list(RoutingRule.objects.filter(org=org))
        rules = default_rules(org)
        for rule in rules:
            rule.save()
        return rules


def routing_rule_move(*, rule: RoutingRule, direction: str) -> None:
    """Swap a rule with its neighbour; positions are renumbered 0..n so they stay distinct."""
    with transaction.atomic():
        rules = list(RoutingRule.objects.select_for_update().filter(org=rule.org_id))
        index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
        other = index - 1 if direction == "up" else index + 1
        if 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
        for position, each in enumerate(rules):
            if each.position != position:
                RoutingRule.objects.filter(pk=each.pk).update(position=position)


def routing_rule_set_active(*, rule: RoutingRule, active: bool) -> None:
    """Switch a rule on or off to the state asked for; asking twice changes nothing more."""
    RoutingRule.objects.filter(pk=rule.pk).update(active=active)
    rule.active = active


def routing_rule_next_position(*, org: Organisation) -> int:
    last = RoutingRule.objects.filter(org=org).order_by("-position").first()
    return last.position + 1 if last else 0
