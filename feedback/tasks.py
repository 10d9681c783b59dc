from celery import shared_task
from django.db.models import F
from django.utils import timezone

from accounts.models import Organisation

from .models import Heartbeat
from .privacy import erasure_requests_carry_out, retention_sweep
from .rollups import rollups_refresh


@shared_task
def heartbeat() -> None:
    """Record that beat scheduled and a worker ran this. Safe to run twice."""
    now = timezone.now()
    updated = Heartbeat.objects.filter(name="beat").update(beat_at=now, count=F("count") + 1)
    if not updated:
        Heartbeat.objects.get_or_create(name="beat", defaults={"beat_at": now, "count": 1})


@shared_task
def refresh_rollups() -> None:
    """Bring every organisation's dashboard roll-ups up to yesterday. Safe to run twice: each
    organisation's refresh locks its state row and rewrites whole days."""
    now = timezone.now()
    for org in Organisation.objects.order_by("pk").iterator():
        rollups_refresh(org=org, now=now)


@shared_task
def carry_out_erasure_requests() -> None:
    """Erase the customers who asked on their own pages. Safe to run twice: requests are
    claimed with SKIP LOCKED and an erasure repeated changes nothing."""
    erasure_requests_carry_out(now=timezone.now())


@shared_task
def apply_retention() -> None:
    """Anonymise customers past their business's retention period. Safe to run twice: a
    customer anonymised is never picked again."""
    retention_sweep(now=timezone.now())
