from celery import shared_task
from django.utils import timezone

from .inbound import inbound_customers_apply
from .sending import invitations_send_due


@shared_task
def send_due_invitations() -> int:
    """Send due invitations and reminders. Safe to run twice, or in parallel: rows are claimed
    with SKIP LOCKED and every email has a unique key."""
    return invitations_send_due(now=timezone.now())


@shared_task
def apply_inbound_to_customers() -> int:
    """Bounces and complaints to customers, replies to survey emails. Safe to run twice:
    events are claimed with SKIP LOCKED and marked processed."""
    return inbound_customers_apply(now=timezone.now())
