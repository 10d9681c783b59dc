"""The one receiver that connects surveys to actions (docs/architecture.md, "The one seam")."""

from django.dispatch import receiver
from django.utils import timezone

from surveys.signals import response_submitted

from .models import RoutingRequest


@receiver(response_submitted, dispatch_uid="actions.route_response")
def route_submitted_response(sender, response_id, changed=False, **kwargs):
    """Record that the response needs routing; the ``route_responses`` sweep routes it.

    One upsert, no broker: the customer's submit stays fast and works with Redis down. A new
    request starts its attempts afresh, so a response that failed routing is tried again when
    the customer changes their answers.
    """
    request = RoutingRequest(
        response_id=response_id,
        changed=changed,
        requested_at=timezone.now(),
        attempts=0,
        last_error="",
    )
    RoutingRequest.objects.bulk_create(
        [request],
        update_conflicts=True,
        unique_fields=["response"],
        update_fields=["changed", "requested_at", "routed_at", "attempts", "last_error"],
    )
