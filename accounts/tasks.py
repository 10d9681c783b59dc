from celery import shared_task

from .mail import email_send_queued


@shared_task
def send_queued_emails() -> int:
    """Send what web requests queued. Safe to run twice: rows are claimed with SKIP LOCKED."""
    return email_send_queued()
