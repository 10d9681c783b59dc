import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Membership, Organisation
from actions.models import Action
from surveys.models import Response, Touchpoint


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
    touchpoint = models.ForeignKey(
        Touchpoint,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="For the wall's touchpoint filter; the name shown is the copy below.",
    )
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


class WallState(models.Model):
    """The version of an organisation's public wall: a new one on every publish and unpublish,
    written in the same transaction, so a cached page is known stale by one indexed read."""

    org = models.OneToOneField(Organisation, models.CASCADE, primary_key=True, related_name="+")
    version = models.CharField(max_length=32)

    def __str__(self):
        return f"{self.org_id} wall {self.version}"


class DailyRollup(models.Model):
    """One organisation's survey traffic for one local day and touchpoint.

    Written only by ``feedback.rollups.rollups_refresh`` (the ``refresh_rollups`` sweep). The
    dashboard and the wall read these for days up to ``RollupState.complete_through`` and count
    later days live, so a sweep that has not run yet makes pages slower, never wrong.
    """

    org = models.ForeignKey(Organisation, models.CASCADE, related_name="+")
    day = models.DateField()
    touchpoint = models.ForeignKey(
        Touchpoint, models.CASCADE, null=True, blank=True, related_name="+"
    )
    invitations = models.PositiveIntegerField(default=0, help_text="Created that day.")
    invitations_sent = models.PositiveIntegerField(default=0, help_text="Of those, sent.")
    responses = models.PositiveIntegerField(default=0, help_text="Submitted that day.")
    problem_responses = models.PositiveIntegerField(default=0)
    with_words = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "day", "touchpoint"], name="daily_rollup_unique")
        ]
        indexes = [models.Index(fields=["org", "day"], name="daily_rollup_org_day")]

    def __str__(self):
        return f"{self.org_id} {self.day}: {self.responses} responses"


class AnswerRollup(models.Model):
    """How many answers of each value a question got on one local day, per touchpoint."""

    org = models.ForeignKey(Organisation, models.CASCADE, related_name="+")
    day = models.DateField()
    touchpoint = models.ForeignKey(
        Touchpoint, models.CASCADE, null=True, blank=True, related_name="+"
    )
    question_key = models.UUIDField()
    question_text = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)
    value = models.CharField(max_length=200)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["org", "day"], name="answer_rollup_org_day")]

    def __str__(self):
        return f"{self.question_text} = {self.value}: {self.count}"


class ActionRollup(models.Model):
    """One organisation's actions for one local day, per touchpoint and owner.

    A window ending now counts an action once, on its *key day*: the later of its close and its
    deadline in force (that deadline while it is open). That day carries the promise against
    the deadline in force (``promised``, ``kept``, ``moved``), the time to the first reply and
    the action's tags. The promise against the first deadline, the one the wall shows
    (``first_promised``, ``first_kept``, ``first_moved``), has its own key day, the later of
    the close and the first deadline. The day it closed carries ``closed`` and the time to the
    closed loop. Durations are kept whole, in
    microseconds, so medians over any run of days are exact. Rewritten for the last
    ``rollups.ACTION_DAYS`` days on every refresh, because an action changed today may move
    its key day out of any earlier one.
    """

    org = models.ForeignKey(Organisation, models.CASCADE, related_name="+")
    day = models.DateField()
    touchpoint = models.ForeignKey(
        Touchpoint, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    owner = models.ForeignKey(Membership, models.SET_NULL, null=True, blank=True, related_name="+")
    promised = models.PositiveIntegerField(default=0)
    kept = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0, help_text="Promised, deadline moved.")
    first_promised = models.PositiveIntegerField(
        default=0, help_text="Counted against the first deadline (its own key day)."
    )
    first_kept = models.PositiveIntegerField(default=0, help_text="Done by the first deadline.")
    first_moved = models.PositiveIntegerField(
        default=0, help_text="Counted against the first deadline, and that deadline moved."
    )
    closed = models.PositiveIntegerField(default=0)
    first_reply_us = models.JSONField(default=list)
    closed_loop_us = models.JSONField(default=list)
    tags = models.JSONField(default=dict, help_text="Tag name: actions carrying it.")

    class Meta:
        indexes = [models.Index(fields=["org", "day"], name="action_rollup_org_day")]

    def __str__(self):
        return f"{self.org_id} {self.day}: {self.promised} promised"


class RollupState(models.Model):
    """How far an organisation's roll-ups are complete: every local day up to and including
    ``complete_through``; for actions, from ``actions_from`` on; for traffic and answers, also
    today's until ``traffic_until``."""

    org = models.OneToOneField(Organisation, models.CASCADE, primary_key=True, related_name="+")
    complete_through = models.DateField()
    actions_from = models.DateField(null=True, blank=True)
    traffic_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Traffic and answers are rolled up to this moment (today's so far included).",
    )
    refreshed_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.org_id} through {self.complete_through}"


class Heartbeat(models.Model):
    """Written by a periodic task: proof that beat and a worker are running."""

    name = models.CharField(max_length=40, primary_key=True)
    beat_at = models.DateTimeField()
    count = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.name} at {self.beat_at}"
