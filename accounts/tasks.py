from celery import shared_task
from django.utils import timezone

from .hooks import webhooks_send_due
from .mail import email_send_queued


@shared_task
def send_queued_emails() -> int:
    """Send what web requests queued. Safe to run twice: rows are claimed with SKIP LOCKED."""
    return email_send_queued(now=timezone.now())


@shared_task
def send_webhooks() -> dict:
    """Fan new events out to webhooks and chat, then send what is due. Safe to run twice:
    events and deliveries are claimed with SKIP LOCKED."""
    return webhooks_send_due(now=timezone.now())
