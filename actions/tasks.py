from celery import shared_task
from django.utils import timezone

from .followups import follow_ups_send_due
from .inbound import inbound_actions_apply
from .notices import action_notices_sweep, morning_digests_send
from .reviews import review_offers_send_due
from .routing import routing_requests_route


@shared_task
def sweep_action_notices() -> dict:
    """Reminders, overdue notices and escalations that have fallen due. Safe to run twice at
    once: rows are claimed with SKIP LOCKED and every email has a unique key."""
    return action_notices_sweep(now=timezone.now())


@shared_task
def send_morning_digests() -> int:
    """Each member's digest, once per local working day after opening time."""
    return morning_digests_send(now=timezone.now())


@shared_task
def route_responses() -> int:
    """Route responses the receiver recorded. Safe to run twice at once (SKIP LOCKED)."""
    return routing_requests_route(now=timezone.now())


@shared_task
def apply_inbound_to_actions() -> int:
    """Customers' replies to emails about their actions. Safe to run twice (SKIP LOCKED)."""
    return inbound_actions_apply(now=timezone.now())


@shared_task
def send_follow_ups() -> int:
    """ "Is it still sorted?" emails that have fallen due. Safe to run twice (SKIP LOCKED)."""
    return follow_ups_send_due(now=timezone.now())


@shared_task
def send_review_offers() -> int:
    """Review offers a day after each loop-closing message, at most one email per customer
    per business. Safe to run twice (SKIP LOCKED, and one outbox key per customer)."""
    return review_offers_send_due(now=timezone.now())
