from celery import shared_task
from django.utils import timezone

from .sending import invitations_send_due


@shared_task
def send_due_invitations() -> int:
    """Send due invitations and reminders. Safe to run twice, or in parallel: rows are claimed
    with SKIP LOCKED and every email has a unique key."""
    return invitations_send_due(now=timezone.now())
