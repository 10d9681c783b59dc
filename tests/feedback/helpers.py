"""Actions built straight with the ORM (the actions app's services are not used here)."""

from datetime import timedelta

from django.utils import timezone

from actions.models import Action, ActionResponse
from tests.factories import make_customer, make_invitation, make_response, make_touchpoint


def make_action(
    org,
    response=None,
    *,
    status=Action.Status.OPEN,
    due_in=timedelta(days=2),
    created_ago=timedelta(days=3),
    closed_ago=None,
    kind="problem",
    owner=None,
    resolution="",
    touchpoint=None,
    now=None,
    **extra,
) -> Action:
    now = now or timezone.now()
    created = now - created_ago
    due = created + due_in
    customer = response.customer if response else make_customer(org)
    if touchpoint is None and response is not None:
        touchpoint = response.invitation.interaction.touchpoint
    values = {
        "org": org,
        "kind": kind,
        "status": status,
        "owner": owner,
        "customer": customer,
        "touchpoint": touchpoint,
        "response": response,
        "words": response.verbatim if response else "",
        "created_at": created,
        "due_at": due,
        "first_due_at": due,
        "resolution": resolution,
    }
    if closed_ago is not None:
        values["closed_at"] = now - closed_ago
    values.update(extra)
    return Action.objects.create(**values)


def make_done_consented(
    org,
    *,
    verbatim="The chain slipped again after the repair, twice.",
    name="Pat Jones",
    email=None,
    touchpoint=None,
    consent=True,
    resolution="We replaced the chain and checked the gears for free.",
    link=False,
):
    touchpoint = touchpoint or org_touchpoint(org)
    customer = make_customer(org, email=email, name=name)
    invitation = make_invitation(touchpoint, customer=customer)
    response = make_response(invitation, answers={0: False}, verbatim=verbatim, consent=consent)
    action = make_action(
        org,
        None if link else response,
        status=Action.Status.DONE,
        closed_ago=timedelta(days=1),
        resolution=resolution,
        touchpoint=touchpoint,
        customer=customer,
    )
    if link:
        ActionResponse.objects.create(action=action, response=response)
    return action, response


def org_touchpoint(org):
    from surveys.models import Touchpoint

    return Touchpoint.objects.filter(org=org).first() or make_touchpoint(org)
