"""The one receiver that connects surveys to actions (DESIGN.md)."""

from django.dispatch import receiver

from surveys.signals import response_submitted


@receiver(response_submitted, dispatch_uid="actions.route_response")
def route_submitted_response(sender, response_id, changed=False, **kwargs):
    from .services import response_route

    response_route(response_id=response_id, changed=changed)
