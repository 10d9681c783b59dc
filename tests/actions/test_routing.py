import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.hooks import webhook_endpoint_create
from accounts.models import Membership, OrgEvent, OutgoingEmail
from actions.models import Action, ActionEvent, ActionResponse, Kind, RoutingRule
from actions.routing import response_route
from actions.services import action_close
from surveys.models import Answer
from tests.conftest import make_member
from tests.factories import make_customer, make_touchpoint

from .conftest import WEDNESDAY_10AM

STOCK, STAFF_KNEW, SPEED, HEARD_FROM = 0, 1, 2, 3


def question_key(touchpoint, position):
    return touchpoint.survey.current_version().questions.all()[position].key


def rule(org, condition, position=0, **kw):
    kw.setdefault("owner_strategy", RoutingRule.OwnerStrategy.TOUCHPOINT_OWNER)
    members = kw.pop("members", [])
    created = RoutingRule.objects.create(org=org, condition=condition, position=position, **kw)
    created.members.set(members)
    return created


@pytest.fixture
def priya(org):
    return make_member(org, "priya@alpha.example", Membership.Role.STAFF, "Priya Nair")


# Conditions ------------------------------------------------------------------------------


def test_it_opens_an_action_on_any_no_answer(org, routed):
    rule(org, RoutingRule.Condition.ANY_NO)
    assert routed({STOCK: True, STAFF_KNEW: False}) is not None
    assert routed({STOCK: True, STAFF_KNEW: True}) is None


def test_it_routes_no_on_a_named_question_to_its_person(
    org, owner, teammate, priya, touchpoint, routed
):
    Condition, Strategy = RoutingRule.Condition, RoutingRule.OwnerStrategy
    rule(
        org,
        Condition.NO_ON_QUESTION,
        0,
        question_key=question_key(touchpoint, STOCK),
        owner_strategy=Strategy.MEMBER,
        members=[priya],
    )
    rule(
        org,
        Condition.NO_ON_QUESTION,
        1,
        question_key=question_key(touchpoint, STAFF_KNEW),
        owner_strategy=Strategy.MEMBER,
        members=[owner],
    )
    assert routed({STOCK: False, STAFF_KNEW: True}).owner == priya
    assert routed({STOCK: True, STAFF_KNEW: False}).owner == owner
    assert routed({STOCK: True, STAFF_KNEW: True}) is None


def test_it_opens_an_action_on_a_rating_at_or_below_the_threshold(org, touchpoint, routed):
    rule(
        org,
        RoutingRule.Condition.RATING_AT_MOST,
        threshold=3,
        question_key=question_key(touchpoint, SPEED),
    )
    assert routed({SPEED: 3}) is not None
    assert routed({SPEED: 4}) is None


def test_it_opens_an_action_on_a_given_choice(org, routed):
    rule(org, RoutingRule.Condition.CHOICE_IS, choice="passing by", kind=Kind.SUGGESTION)
    action = routed({HEARD_FROM: "Passing by"})
    assert action.kind == Kind.SUGGESTION
    assert routed({HEARD_FROM: "Friend"}) is None


def test_it_opens_an_action_on_any_free_text(org, routed):
    rule(org, RoutingRule.Condition.ANY_TEXT)
    action = routed({STOCK: True}, verbatim="The bell on my bike still rattles.")
    assert action.words == "The bell on my bike still rattles."
    assert routed({STOCK: True}, verbatim="   ") is None


def test_it_opens_an_action_for_every_response(org, routed):
    rule(org, RoutingRule.Condition.EVERY, kind=Kind.PRAISE)
    assert routed({STOCK: True}).kind == Kind.PRAISE


def test_it_limits_a_rule_to_its_touchpoint(org, routed):
    other = make_touchpoint(org, slug="phone", name="Phone support")
    rule(org, RoutingRule.Condition.EVERY, touchpoint=other)
    assert routed({STOCK: False}) is None
    assert routed({STOCK: False}, tp=other) is not None


def test_it_applies_rules_in_order_and_the_first_match_decides(org, owner, priya, routed):
    Strategy = RoutingRule.OwnerStrategy
    rule(org, RoutingRule.Condition.ANY_TEXT, 5, owner_strategy=Strategy.MEMBER, members=[owner])
    rule(
        org,
        RoutingRule.Condition.ANY_NO,
        2,
        owner_strategy=Strategy.MEMBER,
        members=[priya],
        kind=Kind.PROBLEM,
    )
    action = routed({STOCK: False}, verbatim="No bells.")
    assert action.owner == priya


def test_it_ignores_inactive_rules_and_makes_nothing_when_all_are_off(org, routed):
    rule(org, RoutingRule.Condition.EVERY, active=False)
    assert routed({STOCK: False}, verbatim="Awful") is None


# Owners ----------------------------------------------------------------------------------


def test_it_gives_the_action_to_the_staff_member_who_served(org, teammate, routed):
    rule(
        org,
        RoutingRule.Condition.ANY_NO,
        owner_strategy=RoutingRule.OwnerStrategy.INTERACTION_STAFF,
    )
    assert routed({STOCK: False}, staff=teammate).owner == teammate


def test_it_falls_back_to_the_touchpoint_owner_then_an_owner(org, owner, priya, routed):
    rule(
        org,
        RoutingRule.Condition.ANY_NO,
        owner_strategy=RoutingRule.OwnerStrategy.INTERACTION_STAFF,
    )
    no_staff_tp = make_touchpoint(org, slug="web", name="Web order", default_owner=priya)
    assert routed({STOCK: False}, tp=no_staff_tp).owner == priya
    orphan_tp = make_touchpoint(org, slug="orphan", name="Orphan")
    assert routed({STOCK: False}, tp=orphan_tp).owner == owner


def test_it_gives_the_action_to_the_touchpoint_owner(org, owner, teammate, routed):
    rule(org, RoutingRule.Condition.ANY_NO)
    assert routed({STOCK: False}, staff=teammate).owner == owner


def test_it_takes_turns_round_robin(org, owner, teammate, priya, routed):
    rule(
        org,
        RoutingRule.Condition.ANY_NO,
        owner_strategy=RoutingRule.OwnerStrategy.ROUND_ROBIN,
        members=[priya, teammate],
    )
    owners = [routed({STOCK: False}).owner for _ in range(5)]
    first, second = sorted([teammate, priya], key=lambda m: m.pk)
    assert owners == [first, second, first, second, first]


# Defaults, deadline, side effects --------------------------------------------------------


@time_machine.travel(WEDNESDAY_10AM, tick=False)
def test_it_uses_sensible_defaults_for_a_new_organisation(org, teammate, routed):
    assert not RoutingRule.objects.filter(org=org).exists()
    action = routed({STOCK: True, STAFF_KNEW: False}, staff=teammate)
    assert action.owner == teammate
    assert action.kind == Kind.PROBLEM
    assert action.due_at == WEDNESDAY_10AM + timezone.timedelta(days=2)  # Friday 10:00
    assert action.first_due_at == action.due_at
    assert action.reminder_due_at == action.due_at - timezone.timedelta(hours=24)
    assert action.escalate_at == WEDNESDAY_10AM + timezone.timedelta(days=5)  # Monday 10:00
    assert routed({SPEED: 2}, staff=teammate).kind == Kind.PROBLEM
    assert routed({STOCK: True}, verbatim="Could you open on Sundays?").kind == Kind.SUGGESTION
    assert routed({STOCK: True, SPEED: 5}) is None
    assert not RoutingRule.objects.filter(org=org).exists()  # routing never writes rules


def test_it_uses_the_rules_deadline_in_working_hours(org, routed):
    rule(
        org,
        RoutingRule.Condition.ANY_NO,
        deadline_amount=4,
        deadline_unit=RoutingRule.DeadlineUnit.WORKING_HOURS,
    )
    with time_machine.travel(WEDNESDAY_10AM, tick=False):
        action = routed({STOCK: False})
    assert action.due_at == WEDNESDAY_10AM + timezone.timedelta(hours=4)


def test_it_records_history_holds_surveys_and_emails_the_owner(org, teammate, routed):
    customer = make_customer(org)
    action = routed(
        {STOCK: False}, verbatim="Out of inner tubes again.", staff=teammate, customer=customer
    )
    assert list(action.events.values_list("kind", flat=True)) == ["created", "assigned"]
    customer.refresh_from_db()
    assert customer.survey_hold and customer.survey_hold_reason
    email = OutgoingEmail.objects.get(key=f"action-new:{action.pk}")
    assert email.to == teammate.user.email
    assert "Out of inner tubes again." in email.body_text
    assert action.get_absolute_url() in email.body_text


def test_it_releases_the_hold_when_the_customer_has_no_open_action(org, owner, routed):
    customer = make_customer(org)
    first = routed({STOCK: False}, customer=customer)
    second = routed({STAFF_KNEW: False}, customer=customer)
    action_close(
        action=first,
        actor=owner,
        status=Action.Status.DONE,
        resolution="Restocked.",
        now=timezone.now(),
    )
    customer.refresh_from_db()
    assert customer.survey_hold
    action_close(
        action=second,
        actor=owner,
        status=Action.Status.DONE,
        resolution="Trained.",
        now=timezone.now(),
    )
    customer.refresh_from_db()
    assert not customer.survey_hold and customer.survey_hold_reason == ""


def test_it_routes_a_response_once_however_often_it_is_called(org, respond):
    response = respond({STOCK: False}, verbatim="Nothing in stock.")
    first = response_route(response_id=response.pk, now=timezone.now())
    again = response_route(response_id=response.pk, now=timezone.now())
    assert first == again
    assert Action.objects.count() == 1 and ActionResponse.objects.count() == 1
    assert OutgoingEmail.objects.filter(kind="action_new").count() == 1


def test_it_updates_the_action_when_the_customer_changes_their_answers(org, respond):
    response = respond({STOCK: False}, verbatim="Nothing in stock.")
    action = response_route(response_id=response.pk, now=timezone.now())
    response.verbatim = "Nothing in stock, and nobody said when it's due."
    response.save()
    Answer.objects.filter(response=response).update(yes_no=False)
    again = response_route(response_id=response.pk, changed=True, now=timezone.now())
    assert again.pk == action.pk
    action.refresh_from_db()
    assert action.words == "Nothing in stock, and nobody said when it's due."
    event = action.events.get(kind=ActionEvent.Kind.RESPONSE_CHANGED)
    assert event.text == action.words
    assert Action.objects.count() == 1


def test_it_opens_an_action_when_a_changed_response_now_matches(org, respond):
    response = respond({STOCK: True})
    assert response_route(response_id=response.pk, now=timezone.now()) is None
    Answer.objects.filter(response=response).update(yes_no=False)
    assert response_route(response_id=response.pk, changed=True, now=timezone.now()) is not None


def test_it_ignores_responses_not_yet_submitted(org, respond):
    response = respond({STOCK: False})
    response.submitted_at = None
    response.save()
    assert response_route(response_id=response.pk, now=timezone.now()) is None
    assert response_route(response_id=999_999, now=timezone.now()) is None


def test_the_signal_records_a_routing_request_and_the_sweep_routes_it(org, respond):
    from actions.models import RoutingRequest
    from actions.routing import routing_requests_route
    from surveys.signals import response_submitted

    response = respond({STOCK: False})
    response_submitted.send(sender=type(response), response_id=response.pk, changed=False)
    assert not Action.objects.filter(response=response).exists()
    assert RoutingRequest.objects.filter(response=response, routed_at=None).count() == 1

    assert routing_requests_route(now=timezone.now()) == 1
    assert Action.objects.filter(response=response).count() == 1
    assert routing_requests_route(now=timezone.now()) == 0


def test_a_change_before_routing_leaves_one_pending_request(org, respond):
    from actions.models import RoutingRequest
    from actions.routing import routing_requests_route
    from surveys.signals import response_submitted

    response = respond({STOCK: False})
    response_submitted.send(sender=type(response), response_id=response.pk, changed=False)
    response_submitted.send(sender=type(response), response_id=response.pk, changed=True)
    assert RoutingRequest.objects.filter(response=response).count() == 1
    assert routing_requests_route(now=timezone.now()) == 1
    assert Action.objects.filter(response=response).count() == 1
    # A later change asks again, and the action is updated rather than doubled.
    response_submitted.send(sender=type(response), response_id=response.pk, changed=True)
    assert routing_requests_route(now=timezone.now()) == 1
    assert Action.objects.filter(response=response).count() == 1


def test_a_failing_route_is_recorded_and_the_rest_of_the_batch_goes_on(org, respond, monkeypatch):
    from actions import routing
    from actions.models import RoutingRequest
    from surveys.signals import response_submitted

    first, second = respond({STOCK: False}), respond({STOCK: False})
    for response in (first, second):
        response_submitted.send(sender=type(response), response_id=response.pk, changed=False)
    real_route = routing.response_route

    def flaky(*, response_id, **kwargs):
        if response_id == first.pk:
            raise RuntimeError("boom")
        return real_route(response_id=response_id, **kwargs)

    monkeypatch.setattr(routing, "response_route", flaky)
    assert routing.routing_requests_route(now=timezone.now()) == 1
    failed = RoutingRequest.objects.get(response=first)
    assert failed.routed_at is None and failed.attempts == 1 and "boom" in failed.last_error
    assert Action.objects.filter(response=second).exists()


def test_it_summarises_the_answers_when_the_customer_wrote_nothing(org, routed):
    action = routed({STOCK: False, STAFF_KNEW: True})
    assert action.words == ""
    assert action.summary == "No: Was what you needed in stock?"


def test_a_changed_answer_retries_a_response_that_gave_up_routing(org, respond):
    from actions.models import RoutingRequest
    from actions.routing import MAX_ROUTING_ATTEMPTS, routing_requests_route
    from surveys.signals import response_submitted

    response = respond({STOCK: False})
    response_submitted.send(sender=type(response), response_id=response.pk, changed=False)
    RoutingRequest.objects.filter(response=response).update(
        attempts=MAX_ROUTING_ATTEMPTS, last_error="boom"
    )
    assert routing_requests_route(now=timezone.now()) == 0  # given up on
    response_submitted.send(sender=type(response), response_id=response.pk, changed=True)
    request = RoutingRequest.objects.get(response=response)
    assert request.attempts == 0 and request.last_error == ""
    assert routing_requests_route(now=timezone.now()) == 1
    assert Action.objects.filter(response=response).count() == 1


# Webhooks: response.created ------------------------------------------------------------------


def _listen(org, owner, events):
    return webhook_endpoint_create(
        org=org,
        kind="webhook",
        url="https://crm.example/hooks",
        events=events,
        description="Our CRM",
        touchpoints=[],
        by=owner,
        now=timezone.now() - timedelta(minutes=1),
    )


@pytest.mark.parametrize("opens_action", [True, False])
def test_it_records_response_created_once_when_a_response_is_first_routed(
    org, owner, touchpoint, respond, opens_action
):
    _listen(org, owner, ["response.created"])
    customer = make_customer(org, "jo@customer.example")
    answers = {STOCK: False, STAFF_KNEW: True} if opens_action else {STOCK: True}
    response = respond(
        answers, verbatim="Nothing in stock." if opens_action else "", customer=customer
    )
    invitation = response.invitation
    invitation.interaction.reference = "till-4711"
    invitation.interaction.save()

    first = response_route(response_id=response.pk, now=timezone.now())
    response_route(response_id=response.pk, now=timezone.now())

    assert (first is not None) is opens_action
    event = OrgEvent.objects.get(type="response.created")
    data = event.payload["response"]
    assert data["invitation"] == str(invitation.code)
    assert data["reference"] == "till-4711"
    assert data["verbatim"] == response.verbatim
    assert data["consent_to_quote"] is False
    assert data["touchpoint"] == {
        "code": str(touchpoint.code),
        "slug": touchpoint.slug,
        "name": touchpoint.name,
    }
    stock = touchpoint.survey.current_version().questions.all()[STOCK]
    assert {"question": stock.text, "kind": "yes_no", "yes_no": not opens_action} in data["answers"]
    assert "jo@customer.example" not in json.dumps(event.payload)


def test_it_records_no_response_created_when_the_response_changes(org, owner, respond):
    _listen(org, owner, ["response.created"])
    response = respond({STOCK: False}, verbatim="Nothing in stock.")
    response_route(response_id=response.pk, now=timezone.now())
    Answer.objects.filter(response=response).update(yes_no=True)
    response_route(response_id=response.pk, changed=True, now=timezone.now())
    assert OrgEvent.objects.filter(type="response.created").count() == 1


def test_it_records_no_response_created_for_a_business_that_does_not_listen(org, respond):
    response = respond({STOCK: False}, verbatim="Nothing in stock.")
    response_route(response_id=response.pk, now=timezone.now())
    assert not OrgEvent.objects.exists()
