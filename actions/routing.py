"""Which routing rule matches a response, and who owns the action it opens.

Pure decisions over rows already loaded: ``services.response_route`` does the writing.
"""

from dataclasses import dataclass

from accounts.models import Membership
from surveys.models import Answer, Question, Response

from .models import Kind, RoutingRule

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
