import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Membership, Organisation
from actions.models import Action
from surveys.models import Response


class WallEntryQuerySet(models.QuerySet):
    def live(self):
        """Entries the public may see: published, not taken down, consent still given."""
        return self.filter(
            unpublished_at=None,
            response__consent_to_quote=True,
            response__consent_withdrawn_at=None,
        )


class WallEntry(models.Model):
    """A consented quote and what the business did about it, on the public wall."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="wall_entries")
    action = models.ForeignKey(Action, models.CASCADE, related_name="wall_entries")
    response = models.OneToOneField(Response, models.CASCADE, related_name="wall_entry")
    quote = models.TextField(help_text="The customer's words, possibly shortened or redacted.")
    original_quote = models.TextField(help_text="The words as the customer wrote them.")
    attribution = models.CharField(max_length=60)
    touchpoint_name = models.CharField(max_length=120, blank=True)
    month = models.DateField(help_text="First day of the month of the feedback.")
    what_we_did = models.TextField()
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(Membership, models.SET_NULL, null=True, related_name="+")
    unpublished_at = models.DateTimeField(null=True, blank=True)

    objects = WallEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at", "-id"]
        indexes = [
            # The public wall: an organisation's live entries, newest first.
            models.Index(
                fields=["org", "-published_at"],
                name="wall_entry_live",
                condition=Q(unpublished_at=None),
            )
        ]

    def __str__(self):
        return f"{self.attribution}: {self.quote[:40]}"


class Heartbeat(models.Model):
    """Written by a periodic task: proof that beat and a worker are running."""

    name = models.CharField(max_length=40, primary_key=True)
    beat_at = models.DateTimeField()
    count = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.name} at {self.beat_at}"
