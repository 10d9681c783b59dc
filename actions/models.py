import uuid
from datetime import datetime, timedelta

from django.db import models
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, Organisation
from surveys.models import Customer, Response, Touchpoint, new_token


class Kind(models.TextChoices):
    PROBLEM = "problem", _("Problem")
    SUGGESTION = "suggestion", _("Suggestion")
    PRAISE = "praise", _("Praise")


class RoutingRule(models.Model):
    """Which responses become actions, for whom, and by when. Applied in ``position`` order;
    the first rule that matches decides."""

    class Condition(models.TextChoices):
        ANY_NO = "any_no", _("Any “No” answer")
        NO_ON_QUESTION = "no_on_question", _("“No” on a named question")
        RATING_AT_MOST = "rating_at_most", _("A rating at or below a threshold")
        CHOICE_IS = "choice_is", _("A given choice")
        ANY_TEXT = "any_text", _("Any free text")
        EVERY = "every", _("Every response")

    class OwnerStrategy(models.TextChoices):
        INTERACTION_STAFF = "interaction_staff", _("The staff member who served the customer")
        TOUCHPOINT_OWNER = "touchpoint_owner", _("The touchpoint's default owner")
        MEMBER = "member", _("A named member")
        ROUND_ROBIN = "round_robin", _("Round-robin among named members")

    class DeadlineUnit(models.TextChoices):
        WORKING_HOURS = "working_hours", _("working hours")
        WORKING_DAYS = "working_days", _("working days")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="routing_rules")
    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=120, blank=True)
    condition = models.CharField(max_length=20, choices=Condition.choices)
    touchpoint = models.ForeignKey(
        Touchpoint,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Only responses about this touchpoint; empty for all."),
    )
    question_key = models.UUIDField(null=True, blank=True)
    threshold = models.PositiveSmallIntegerField(null=True, blank=True)
    choice = models.CharField(max_length=200, blank=True)
    owner_strategy = models.CharField(max_length=20, choices=OwnerStrategy.choices)
    members = models.ManyToManyField(Membership, blank=True, related_name="+")
    round_robin_next = models.PositiveIntegerField(default=0)
    deadline_amount = models.PositiveSmallIntegerField(default=2)
    deadline_unit = models.CharField(
        max_length=16, choices=DeadlineUnit.choices, default=DeadlineUnit.WORKING_DAYS
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.PROBLEM)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.name or self.get_condition_display()


class Tag(models.Model):
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="tags")
    name = models.CharField(max_length=40)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="tag_unique_per_org")]

    def __str__(self):
        return self.name


class Cause(models.Model):
    """One entry of an organisation's own short list of root causes ("Part out of stock",
    "Rushed workshop"). Closing a problem asks for one, so the dashboard can show which
    causes lie behind the most problems; free tags stay for everything else. A cause is
    retired (``active``), never deleted: closed actions keep theirs."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="causes")
    name = models.CharField(max_length=60)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="cause_unique_per_org")]

    def __str__(self):
        return self.name


# The rules the inbox, the notices, the dashboard and the wall all count by. Each is written
# once here, as a filter (for querysets and aggregates) and as its twin on one row; the README
# states them: "overdue" is an open action past the deadline in force whose clock runs (waiting
# on the customer pauses it), and "a promise kept" is an action done (not won't do) by the
# FIRST deadline it was given. A deadline moved later is still a promise broken: the public
# figure must not improve by moving deadlines. The deadline in force is kept as a second,
# labelled figure for the owner's dashboard only (``IN_FORCE``).


class Promise:
    """Which deadline a promises-kept figure measures against: the column to read."""

    #: The first promise: what the public wall and the headline figures count.
    FIRST = "first_due_at"
    #: The deadline in force (moved or not): the dashboard's second figure, labelled as such.
    IN_FORCE = "due_at"


def overdue_condition(now: datetime) -> Q:
    """Overdue at ``now``: open or in progress (not waiting on the customer) and past due."""
    return Q(status__in=Action.CLOCK_RUNNING_STATUSES, due_at__lt=now)


def promise_kept_condition(against: str = Promise.FIRST) -> Q:
    """A promise kept: done (not "won't do") at or before the first deadline (or, ``against``
    ``Promise.IN_FORCE``, the deadline in force when it closed). ``Action.closed_on_time`` is
    a different fact: closed by the deadline in force whatever the outcome."""
    return Q(status=Action.Status.DONE, closed_at__lte=F(against))


def promise_counted_condition(start: datetime, end: datetime, against: str = Promise.FIRST) -> Q:
    """The actions a promises-kept figure for [start, end) counts (``end`` is now): closed
    (done or won't do) with its closing or deadline (``against``) in the period, or still open
    or in progress with that deadline in the period (so past: against the first promise, an
    open action whose first deadline has gone counts as broken, however far it was moved).
    Waiting on the customer is left out until it closes: its clock is paused, as it is for
    "overdue". An action merged into another is left out: its customers' promise goes on in
    the action it joined (``action_merge`` carries the earlier first deadline over)."""
    closed_in = Q(closed_at__gte=start, closed_at__lt=end)
    # Naming every status lets PostgreSQL read this arm from the (org, status, deadline) index.
    due_in = Q(status__in=Action.ALL_STATUSES, **{f"{against}__gte": start, f"{against}__lt": end})
    return Q(merged_into=None) & (
        Q(status__in=Action.CLOSED_STATUSES) & (closed_in | due_in)
        | Q(status__in=Action.CLOCK_RUNNING_STATUSES) & due_in
    )


def deadline_moved_condition() -> Q:
    """The deadline moved: the one in force is not the first promise. Waiting on the customer
    moves both by the time waited (``first_due_at``), so a pause is not a move; a new
    deadline set by a member, a reopen's fresh deadline and a merge that brought an earlier
    promise in are."""
    return ~Q(due_at=F("first_due_at"))


class ActionQuerySet(models.QuerySet):
    def for_org(self, org):
        return self.filter(org=org)

    def open(self):
        return self.filter(status__in=Action.OPEN_STATUSES)

    def closed(self):
        return self.filter(status__in=Action.CLOSED_STATUSES)

    def overdue(self, now: datetime):
        return self.filter(overdue_condition(now))

    def promises_counted(self, start: datetime, end: datetime, against: str = Promise.FIRST):
        """The actions the promises-kept figure for [start, end) counts."""
        return self.filter(promise_counted_condition(start, end, against))

    def kept(self, against: str = Promise.FIRST):
        """Promises kept: done by the first deadline (or ``against`` the one in force)."""
        return self.filter(promise_kept_condition(against))

    def deadline_moved(self):
        return self.filter(deadline_moved_condition())

    def promise_counts(
        self, start: datetime, end: datetime, against: str = Promise.FIRST
    ) -> tuple[int, int]:
        """(kept, counted) promises for [start, end), in one query."""
        row = self.promises_counted(start, end, against).aggregate(
            total=Count("pk"), kept=Count("pk", filter=promise_kept_condition(against))
        )
        return row["kept"], row["total"]

    def promise_summary(self, start: datetime, end: datetime) -> dict[str, int]:
        """Against the first promise for [start, end): counted, kept and moved, in one
        query."""
        row = self.promises_counted(start, end).aggregate(
            counted=Count("pk"),
            kept=Count("pk", filter=promise_kept_condition()),
            moved=Count("pk", filter=deadline_moved_condition()),
        )
        return row

    def told_outcomes(self, start: datetime, end: datetime) -> dict[str, int]:
        """What customers answered to "Did this sort it out?", once per action: the actions
        whose latest telling (the newest loop message, one per customer of that closing) went
        out in [start, end), and of them how many a customer confirmed fixed (a Yes, and no
        No), how many came back not sorted (a No, which reopened the action) and how many
        have no answer yet. Actions merged into another are left out: their customers are told
        from the action they joined. One query."""
        told = LoopMessage.objects.filter(action=OuterRef("pk"), queued_at__isnull=False)
        latest = told.order_by("-created_at").values("created_at")[:1]
        said = told.filter(created_at=OuterRef("told_at"))
        row = (
            self.filter(merged_into=None)
            .annotate(told_at=Subquery(latest))
            .filter(told_at__gte=start, told_at__lt=end)
            .annotate(
                said_yes=Exists(said.filter(outcome=LoopMessage.Outcome.YES)),
                said_no=Exists(said.filter(outcome=LoopMessage.Outcome.NO)),
            )
            .aggregate(
                told=Count("pk"),
                confirmed=Count("pk", filter=Q(said_yes=True, said_no=False)),
                not_sorted=Count("pk", filter=Q(said_no=True)),
            )
        )
        row["no_answer"] = row["told"] - row["confirmed"] - row["not_sorted"]
        return row

    def cause_trend(
        self, *, start: datetime, end: datetime, previous_start: datetime, limit: int = 5
    ) -> list[dict]:
        """The causes behind the most problems closed in [start, end), each with its count
        in the period before ([previous_start, start)): ``{"name", "now", "before"}``, most
        first. Counted once per problem (a merged action's problem is the one it joined), and
        only while closed: a reopened problem has no settled cause yet. One query."""
        return list(
            self.filter(
                kind=Kind.PROBLEM,
                merged_into=None,
                status__in=Action.CLOSED_STATUSES,
                cause__isnull=False,
                closed_at__gte=previous_start,
                closed_at__lt=end,
            )
            .values("cause__name")
            .annotate(
                now=Count("pk", filter=Q(closed_at__gte=start)),
                before=Count("pk", filter=Q(closed_at__lt=start)),
            )
            .filter(now__gt=0)
            .order_by("-now", "cause__name")
            .values("cause__name", "now", "before")[:limit]
        )


class Action(models.Model):
    """A customer's feedback turned into an owned promise with a deadline."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_PROGRESS = "in_progress", _("In progress")
        WAITING = "waiting", _("Waiting on customer")
        DONE = "done", _("Done")
        WONT_DO = "wont_do", _("Won't do")

    OPEN_STATUSES = (Status.OPEN, Status.IN_PROGRESS, Status.WAITING)
    CLOSED_STATUSES = (Status.DONE, Status.WONT_DO)
    # Open with the clock running: what can fall overdue, and what reminders and notices are
    # about. Waiting on the customer pauses the clock.
    CLOCK_RUNNING_STATUSES = (Status.OPEN, Status.IN_PROGRESS)
    ALL_STATUSES = tuple(Status.values)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="actions")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.PROBLEM)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    owner = models.ForeignKey(
        Membership, models.SET_NULL, null=True, blank=True, related_name="actions"
    )
    customer = models.ForeignKey(Customer, models.CASCADE, related_name="actions")
    touchpoint = models.ForeignKey(
        Touchpoint, models.SET_NULL, null=True, blank=True, related_name="actions"
    )
    response = models.ForeignKey(
        Response,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="primary_actions",
        help_text="The response that opened the action.",
    )
    rule = models.ForeignKey(RoutingRule, models.SET_NULL, null=True, blank=True, related_name="+")
    # The customer's words, copied for search and for the inbox row; the response keeps the
    # original.
    words = models.TextField(blank=True)
    # The answers that made this an action ("No: Was what you needed in stock?"), for the inbox
    # row when the customer wrote nothing.
    summary = models.CharField(max_length=300, blank=True)
    merged_into = models.ForeignKey(
        "self",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="merged_from",
        help_text="Set when this action's responses were moved to another action.",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="actions")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    # The first promise, what the public figures count against. Only waiting on the customer
    # moves it (by the time waited, as it moves ``due_at``): the customer held it up, not us.
    # A member's new deadline, a reopen and a merge never make it later.
    first_due_at = models.DateTimeField(
        help_text="The deadline first promised (plus any time spent waiting on the customer)."
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    first_reply_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        Membership, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(blank=True, help_text="What we did, or why not.")
    # Closed by the deadline in force, whatever the outcome (set at close, cleared on reopen).
    # Not the same as a promise kept (``kept_promise``): a won't-do can close on time, but only
    # done by the deadline keeps the promise.
    closed_on_time = models.BooleanField(null=True, blank=True)
    # Scheduled notices: each is a due time and a sent time (docs/architecture.md: rows, not
    # countdowns).
    reminder_due_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    overdue_sent_at = models.DateTimeField(null=True, blank=True)
    escalate_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    reopened_count = models.PositiveSmallIntegerField(default=0)
    # The customer's latest email reply (actions.inbound); the inbox marks the action until a
    # member next touches it (updated_at after this).
    customer_replied_at = models.DateTimeField(null=True, blank=True)
    # Why the problem happened, from the organisation's own list (asked when it closes).
    cause = models.ForeignKey(Cause, models.SET_NULL, null=True, blank=True, related_name="actions")

    objects = ActionQuerySet.as_manager()

    class Meta:
        indexes = [
            # Inbox: a member's open actions by due time.
            models.Index(
                fields=["org", "owner", "due_at"],
                name="action_open_by_owner_due",
                condition=Q(status__in=["open", "in_progress", "waiting"]),
            ),
            # Inbox, team and overdue tabs: the org's open actions by due time.
            models.Index(
                fields=["org", "due_at"],
                name="action_open_by_due",
                condition=Q(status__in=["open", "in_progress", "waiting"]),
            ),
            models.Index(fields=["org", "status", "due_at"], name="action_org_status_due"),
            # Promises kept against the first deadline: actions due in a period.
            models.Index(fields=["org", "status", "first_due_at"], name="action_org_status_first"),
            models.Index(fields=["org", "-closed_at"], name="action_org_closed"),
            # The read API's cursor pages (actions/api.py): newest first by (created_at, id),
            # so a page is an index range read, not a sort of the whole business's actions.
            models.Index(fields=["org", "-created_at", "-id"], name="action_org_created"),
            # sweep_action_notices: reminders not yet sent.
            models.Index(
                fields=["reminder_due_at"],
                name="action_reminder_pending",
                condition=Q(
                    reminder_sent_at=None,
                    status__in=["open", "in_progress"],
                    reminder_due_at__isnull=False,
                ),
            ),
            # sweep_action_notices: overdue notices not yet sent.
            models.Index(
                fields=["due_at"],
                name="action_overdue_pending",
                condition=Q(overdue_sent_at=None, status__in=["open", "in_progress"]),
            ),
            # sweep_action_notices: escalations not yet sent.
            models.Index(
                fields=["escalate_at"],
                name="action_escalation_pending",
                condition=Q(
                    escalated_at=None,
                    status__in=["open", "in_progress"],
                    escalate_at__isnull=False,
                ),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} from {self.customer}"

    def get_absolute_url(self):
        return reverse("actions:detail", args=[self.code])

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def customer_replied(self) -> bool:
        """The customer wrote back and no member has touched the action since."""
        return bool(self.customer_replied_at and self.customer_replied_at > self.updated_at)

    def is_overdue(self, now: datetime) -> bool:
        """The row's twin of ``overdue_condition``."""
        return self.status in self.CLOCK_RUNNING_STATUSES and self.due_at < now

    @property
    def kept_promise(self) -> bool:
        """The row's twin of ``promise_kept_condition``: done by the first deadline."""
        return self.promise_kept(
            status=self.status, closed_at=self.closed_at, due_at=self.first_due_at
        )

    @property
    def kept_promise_in_force(self) -> bool:
        """Done by the deadline in force (``Promise.IN_FORCE``): the dashboard's labelled
        second figure, never the public one."""
        return self.promise_kept(status=self.status, closed_at=self.closed_at, due_at=self.due_at)

    @property
    def deadline_moved(self) -> bool:
        """The row's twin of ``deadline_moved_condition``."""
        return self.due_at != self.first_due_at

    @classmethod
    def promise_kept(cls, *, status: str, closed_at: datetime | None, due_at: datetime) -> bool:
        """``kept_promise`` for values read without the row (the roll-ups read tuples):
        ``due_at`` is the deadline measured against (the first one, or the one in force)."""
        return status == cls.Status.DONE and closed_at is not None and closed_at <= due_at

    @classmethod
    def promise_counts_once_due(cls, status: str, merged: bool = False) -> bool:
        """Whether an action in ``status`` counts towards promises once its key day (its
        closing or deadline) is in the period: everything but waiting on the customer, and
        never an action merged into another (``merged``)."""
        if merged:
            return False
        return status in cls.CLOCK_RUNNING_STATUSES or status in cls.CLOSED_STATUSES

    @property
    def customer_reachable(self) -> bool:
        """Whether the action's customer may be written to about it."""
        return self.may_write_to(self.customer)

    @staticmethod
    def may_write_to(customer: Customer) -> bool:
        """A customer may be written to about an action: an address, not opted out (they
        asked for no more email) and not bounced."""
        return (
            bool(customer.email) and customer.opted_out_at is None and customer.bounced_at is None
        )

    def closes_on_time(self, now: datetime) -> bool:
        """``closed_on_time`` for a close at ``now``: by the deadline, whatever the outcome."""
        return now <= self.due_at


class ActionResponse(models.Model):
    """A response linked to an action. Several customers' responses about the same problem
    can share one action; closing it tells each of them."""

    action = models.ForeignKey(Action, models.CASCADE, related_name="links")
    response = models.OneToOneField(Response, models.CASCADE, related_name="action_link")
    linked_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.response_id} → {self.action_id}"


class ActionEvent(models.Model):
    """The history of an action. Rows are only ever added."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        ASSIGNED = "assigned", _("Assigned")
        REASSIGNED = "reassigned", _("Reassigned")
        DEADLINE_CHANGED = "deadline_changed", _("Deadline changed")
        NOTE = "note", _("Note")
        STATUS_CHANGED = "status_changed", _("Status changed")
        RESPONSE_CHANGED = "response_changed", _("Customer changed their answers")
        LINKED = "linked", _("Response linked")
        REMINDER = "reminder", _("Reminder sent")
        OVERDUE = "overdue", _("Overdue notice sent")
        ESCALATED = "escalated", _("Escalated to owners")
        EMAIL_OUT = "email_out", _("Email sent")
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Reopened")
        CUSTOMER_REPLY = "customer_reply", _("Customer replied")
        TAGGED = "tagged", _("Tags changed")
        PUBLISHED = "published", _("Published on the wall")
        UNPUBLISHED = "unpublished", _("Taken off the wall")

    action = models.ForeignKey(Action, models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(Membership, models.SET_NULL, null=True, blank=True, related_name="+")
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class LoopMessage(models.Model):
    """The loop-closing email to one customer about one action, and their answer to
    "Did this sort it out?"."""

    class Outcome(models.TextChoices):
        YES = "yes", _("Yes, sorted")
        NO = "no", _("No, not sorted")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    action = models.ForeignKey(Action, models.CASCADE, related_name="loop_messages")
    response = models.ForeignKey(Response, models.CASCADE, related_name="loop_messages")
    token = models.CharField(max_length=64, unique=True, default=new_token)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    sent_by = models.ForeignKey(Membership, models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=3, choices=Outcome.choices, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    outcome_comment = models.TextField(blank=True, max_length=5000)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return self.subject

    @classmethod
    def latest_outcome(cls, response: OuterRef) -> Subquery:
        """The answer ("yes", "no" or "") to the newest loop message sent about ``response``
        (an ``OuterRef`` to a response's id): a customer told again after a reopen answers
        afresh."""
        told = cls.objects.filter(response=response, queued_at__isnull=False)
        return Subquery(told.order_by("-created_at", "-id").values("outcome")[:1])


class RoutingRequest(models.Model):
    """A submitted or changed response waiting to be routed.

    The signal's receiver writes this one row in the customer's request, so a submission never
    waits on routing or on the broker; the ``route_responses`` sweep claims pending rows and
    routes them (docs/architecture.md: the database decides, workers execute).
    """

    response = models.OneToOneField(Response, models.CASCADE, related_name="+")
    changed = models.BooleanField(default=False)
    requested_at = models.DateTimeField(default=timezone.now)
    routed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # route_responses: the few requests still pending, oldest first.
            models.Index(
                fields=["requested_at"],
                name="routing_request_pending",
                condition=Q(routed_at=None),
            ),
        ]

    def __str__(self):
        return f"Route response {self.response_id}"


class FollowUpQuerySet(models.QuerySet):
    def due(self, now: datetime):
        """Not yet sent or skipped, and due: the ``follow_up_due`` partial index, field for
        field."""
        return self.filter(sent_at=None, skipped_at=None, due_at__lte=now)

    def stayed_fixed(self, start: datetime, end: datetime) -> dict[str, int]:
        """Of the follow-ups answered in [start, end): how many said it is still sorted.
        One query."""
        return self.filter(answered_at__gte=start, answered_at__lt=end).aggregate(
            answered=Count("pk"), stayed=Count("pk", filter=Q(answer=FollowUp.Answer.YES))
        )


class FollowUp(models.Model):
    """ "Is it still sorted?": one question, some weeks after a customer said Yes to "Did this
    sort it out?", when their touchpoint asks for it (``Touchpoint.stay_fixed_weeks``). A row
    with a due time: the ``send_follow_ups`` sweep (actions.followups) emails it or records why
    not; the customer answers on /f/<token>/still-sorted/ by a POST, and a No reopens the
    action with their words."""

    class Answer(models.TextChoices):
        YES = "yes", _("Yes, still sorted")
        NO = "no", _("No, it came back")

    class Skip(models.TextChoices):
        OPTED_OUT = "opted_out", _("The customer unsubscribed")
        BOUNCED = "bounced", _("Email to this address bounced")
        NO_ADDRESS = "no_address", _("No address to write to")
        FATIGUE = "fatigue", _("Asked something recently")
        REOPENED = "reopened", _("The action was reopened or told again since")
        FAILED = "failed", _("Could not be sent")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="+")
    action = models.ForeignKey(Action, models.CASCADE, related_name="follow_ups")
    # The Yes it follows: one follow-up per answered loop message.
    loop_message = models.OneToOneField(LoopMessage, models.CASCADE, related_name="follow_up")
    response = models.ForeignKey(Response, models.CASCADE, related_name="follow_ups")
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    skipped_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=12, choices=Skip.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answer = models.CharField(max_length=3, choices=Answer.choices, blank=True)
    comment = models.TextField(blank=True, max_length=5000)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = FollowUpQuerySet.as_manager()

    class Meta:
        indexes = [
            # send_follow_ups (actions.followups): the few follow-ups still to send, by due time.
            models.Index(
                fields=["due_at"],
                name="follow_up_due",
                condition=Q(sent_at=None, skipped_at=None),
            ),
            # The dashboard's "stayed fixed" figure: answers in a period.
            models.Index(
                fields=["org", "answered_at"],
                name="follow_up_answered",
                condition=Q(answered_at__isnull=False),
            ),
        ]

    def __str__(self):
        return f"Follow-up on {self.action_id} due {self.due_at:%Y-%m-%d}"

    def reason_not_to_send(self, now: datetime) -> str:
        """Why this follow-up must not be emailed now (a ``Skip`` value), or "". The survey
        rules: never to a bounced, unsubscribed or recently asked customer. And not once the
        action has been reopened (or closed again) since the Yes it follows: that Yes no
        longer describes the fix. Reads the customer, the org, the action and the loop
        message: load them with the row."""
        customer = self.response.customer
        if customer.bounced_at:
            return self.Skip.BOUNCED
        if not customer.email:
            return self.Skip.NO_ADDRESS
        if customer.opted_out_at:
            return self.Skip.OPTED_OUT
        action = self.action
        if action.is_open or action.closed_at > self.loop_message.created_at:
            return self.Skip.REOPENED
        fatigue_days = self.org.fatigue_days
        last = customer.last_surveyed_at
        if fatigue_days and last is not None and last > now - timedelta(days=fatigue_days):
            return self.Skip.FATIGUE
        return ""


class ReviewOfferQuerySet(models.QuerySet):
    def due(self, now: datetime):
        """Not yet sent or skipped, and due: the ``review_offer_due`` partial index."""
        return self.filter(sent_at=None, skipped_at=None, due_at__lte=now)


class ReviewOffer(models.Model):
    """The offer to review the business on its public review site (``Organisation.
    review_url``), a day after a loop-closing message: one row per message, so every customer
    whose loop closed is offered it, whatever they answered (review sites forbid asking only
    happy customers). The ``send_review_offers`` sweep (actions.reviews) emails it at most
    once per customer per business (the outbox key ``review:<org>:<customer>``)."""

    class Skip(models.TextChoices):
        NO_LINK = "no_link", _("The business has no review link")
        ALREADY = "already", _("Offered before")
        OPTED_OUT = "opted_out", _("The customer unsubscribed")
        BOUNCED = "bounced", _("Email to this address bounced")
        NO_ADDRESS = "no_address", _("No address to write to")
        FAILED = "failed", _("Could not be sent")

    org = models.ForeignKey(Organisation, models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, models.CASCADE, related_name="review_offers")
    loop_message = models.OneToOneField(LoopMessage, models.CASCADE, related_name="review_offer")
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    skipped_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=12, choices=Skip.choices, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ReviewOfferQuerySet.as_manager()

    class Meta:
        indexes = [
            # send_review_offers (actions.reviews): the offers still to send, by due time.
            models.Index(
                fields=["due_at"],
                name="review_offer_due",
                condition=Q(sent_at=None, skipped_at=None),
            ),
        ]

    def __str__(self):
        return f"Review offer to {self.customer_id} due {self.due_at:%Y-%m-%d}"

    def reason_not_to_send(self, *, offered_before: bool) -> str:
        """Why this offer must not be emailed (a ``Skip`` value), or "". Never what the
        customer answered: the offer is the same for everyone whose loop closed. Reads the
        org and the customer: load them with the row."""
        customer = self.customer
        if not self.org.review_url:
            return self.Skip.NO_LINK
        if customer.bounced_at:
            return self.Skip.BOUNCED
        if not customer.email:
            return self.Skip.NO_ADDRESS
        if customer.opted_out_at:
            return self.Skip.OPTED_OUT
        if offered_before:
            return self.Skip.ALREADY
        return ""

    @staticmethod
    def email_key(*, org_id: int, customer_id: int) -> str:
        """One outbox key per customer per business: the email goes at most once."""
        return f"review:{org_id}:{customer_id}"
