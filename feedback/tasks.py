from celery import shared_task
from django.db.models import F
from django.utils import timezone

from .models import Heartbeat


@shared_task
def heartbeat() -> None:
    """Record that beat scheduled and a worker ran this. Safe to run twice."""
    now = timezone.now()
    updated = Heartbeat.objects.filter(name="beat").update(beat_at=now, count=F("count") + 1)
    if not updated:
        Heartbeat.objects.get_or_create(name="beat", defaults={"beat_at": now, "count": 1})
