import re
import secrets
import uuid
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import InboundAddress, Membership, Organisation

from . import wording

MAX_QUESTIONS = 5
MAX_TEXT = 5000


def new_token() -> str:
    """An unguessable customer token: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def new_public_code() -> str:
    """A touchpoint's public link code (/t/<code>/): 96 random bits, short enough to type
    from a poster, too many to find links by trying."""
    return secrets.token_urlsafe(12)


# A word that reads like a host name ("example.net", "shop.co.uk"): never a person's name.
_HOST_LIKE = re.compile(r"(?:[^\W_][\w-]*\.)+[^\W\d_]{2,}\.?", re.IGNORECASE)


def _address_like(word: str) -> bool:
    """True for an email address, a URL or a host name: text that identifies, not a name."""
    lowered = word.lower()
    return (
        "@" in word
        or "://" in word
        or lowered.startswith("www.")
        or "/" in word
        or bool(_HOST_LIKE.fullmatch(word.strip("()[]<>,;:\"'")))
    )


class OrgQuerySet(models.QuerySet):
    def for_org(self, org):
        return self.filter(org=org)


class Customer(models.Model):
    """Someone a business served. The least data that works: an address, a name, a locale."""

    org = models.ForeignKey(Organisation, models.CASCADE, related_name="customers")
    email = models.EmailField()
    name = models.CharField(max_length=150, blank=True)
    locale = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    # The last time an owner said the address works again (services.customer_bounce_clear):
    # who took responsibility for mailing it, and when.
    bounce_cleared_at = models.DateTimeField(null=True, blank=True)
    bounce_cleared_by = models.ForeignKey(
        Membership, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_surveyed_at = models.DateTimeField(null=True, blank=True)
    # Set by a higher floor (actions) while earlier feedback is still being answered: a customer
    # is not asked again before they have heard back.
    survey_hold = models.BooleanField(default=False)
    survey_hold_reason = models.CharField(max_length=200, blank=True)
    # Anonymised (surveys.privacy): at their request or by the retention sweep. The row stays
    # so figures keep counting what they answered; nothing identifies them any more.
    erased_at = models.DateTimeField(null=True, blank=True)

    objects = OrgQuerySet.as_manager()

    class Meta:
        constraints = [
            # A customer who answered through a public link and gave no address (or hasn't
            # confirmed it yet) has none: each such answer gets its own row, because nothing
            # says two anonymous answers came from the same person.
            models.UniqueConstraint(
                fields=["org", "email"],
                condition=~Q(email=""),
                name="customer_unique_email_per_org",
            )
        ]

    def __str__(self):
        return self.email or self.public_name

    @property
    def is_anonymous(self) -> bool:
        return not self.email

    @property
    def first_name(self) -> str:
        return (self.name.split() or [""])[0]

    @property
    def public_name(self) -> str:
        """First name and initial of the last name: how the wall attributes a quote."""
        # A "name" is often whatever the till had, sometimes the customer's address or a
        # link: the public wall never shows one of those.
        parts = [part for part in self.name.split() if not _address_like(part)]
        if not parts:
            return "A customer"
        if len(parts) == 1:
            return parts[0]
        return f"{parts[0]} {parts[-1][0].upper()}."


class Survey(models.Model):
    """A named survey; its questions live in versions, so answered questions never change."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="surveys")
    name = models.CharField(max_length=120)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def current_version(self):
        return self.versions.order_by("-number").first()


class SurveyVersion(models.Model):
    survey = models.ForeignKey(Survey, models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(default=1)
    free_text_prompt = models.CharField(
        max_length=200, blank=True, default="Anything we could do better?"
    )
    # The prompt written per language ({"fr": "..."}); a language missing here falls back to
    # the prompt above (through the catalogues while it is Heard's default).
    translations = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["survey", "number"], name="survey_version_unique")
        ]
        ordering = ["survey", "-number"]

    def __str__(self):
        return f"{self.survey} v{self.number}"


class Question(models.Model):
    class Kind(models.TextChoices):
        YES_NO = "yes_no", _("Yes / no")
        RATING = "rating", _("Rating 1–5")
        CHOICE = "choice", _("Single choice")
        TEXT = "text", _("Free text")

    version = models.ForeignKey(SurveyVersion, models.CASCADE, related_name="questions")
    # The same question across versions keeps its key, so routing rules can name it.
    key = models.UUIDField(default=uuid.uuid4)
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    text = models.CharField(max_length=200)
    choices = models.JSONField(default=list, blank=True)
    low_label = models.CharField(max_length=40, blank=True)
    high_label = models.CharField(max_length=40, blank=True)
    # The question written per language: {"fr": {"text", "low_label", "high_label",
    # "choices"}}, each optional. A translated choice is only a label: the answer stored is
    # the default-language choice at the same place, so rules and figures never split.
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "key"], name="question_key_unique_in_version"
            )
        ]

    def __str__(self):
        return self.text

    def in_language(self, language: str) -> dict:
        """What a customer reading ``language`` sees: the text, end labels, choice labels and
        one-click ``options`` ((label, stored value) pairs), each as written for that language,
        else the default text through the catalogues (so library questions stay translated)."""
        written = (self.translations or {}).get(language) or {}
        with translation.override(language):

            def pick(name):
                own = str(written.get(name) or "").strip()
                default = getattr(self, name)
                return own or (gettext(default) if default else "")

            own_choices = list(written.get("choices") or [])
            choices = [
                str(own_choices[i]).strip()
                if i < len(own_choices) and str(own_choices[i]).strip()
                else gettext(choice)
                for i, choice in enumerate(self.choices)
            ]
            if self.kind == Question.Kind.CHOICE:
                options = list(zip(choices, self.choices, strict=True))
            else:
                options = [(gettext(label), value) for label, value in self.one_click_options()]
            return {
                "text": pick("text"),
                "low_label": pick("low_label"),
                "high_label": pick("high_label"),
                "choices": choices,
                "options": options,
            }

    def one_click_options(self) -> list[tuple[str, str]]:
        """(label, value) pairs a customer can pick with one click, for the question's kind."""
        if self.kind == Question.Kind.YES_NO:
            return [("Yes", "yes"), ("No", "no")]
        if self.kind == Question.Kind.RATING:
            return [(str(n), str(n)) for n in range(1, 6)]
        if self.kind == Question.Kind.CHOICE:
            return [(c, c) for c in self.choices]
        return []


class Touchpoint(models.Model):
    """A kind of interaction ("Repair collected") with its survey, delay and default owner."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="touchpoints")
    slug = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    survey = models.ForeignKey(
        Survey, models.SET_NULL, null=True, blank=True, related_name="touchpoints"
    )
    send_delay_minutes = models.PositiveIntegerField(default=60)
    # The public link /t/<code>/ (poster, website, kiosk). Rotating it retires the old code
    # (RetiredPublicCode), which then answers 410 rather than opening the survey.
    public_code = models.CharField(max_length=32, unique=True, default=new_public_code)
    public_daily_cap = models.PositiveIntegerField(
        default=200,
        help_text="Answers through the public link per day before the rest are held for you "
        "to review (you get one email that day).",
    )
    default_owner = models.ForeignKey(
        Membership, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    active = models.BooleanField(default=True)
    # "Did it stay fixed?": weeks after a customer says a fix sorted it out, ask once whether
    # it is still sorted (actions.followups); 0, the default, never asks.
    stay_fixed_weeks = models.PositiveSmallIntegerField(
        default=0,
        help_text="Weeks after a customer says a fix sorted it out, ask them once whether it "
        "is still sorted. 0 never asks.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Email intake (surveys.inbound): a business BCCs in-<token>@INBOUND_DOMAIN on the receipt
    # it already sends. The address is derived from the code and this number, so the page can
    # always show it; 0 means no address yet, and each replacement counts up (the old one is
    # revoked).
    intake_generation = models.PositiveIntegerField(default=0)
    # Whose intake mail becomes surveys on its own besides members': the domains the business
    # sends receipts from (a till system, a booking service). Anyone else's is held.
    intake_sender_domains = models.CharField(
        max_length=500,
        blank=True,
        help_text="Domains whose mail to the intake address is trusted, separated by spaces "
        "or commas (like shop.example, bookings.example). Mail from members is always trusted.",
    )

    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["org", "slug"], name="touchpoint_unique_slug_per_org")
        ]

    def __str__(self):
        return self.name

    @property
    def takes_public_answers(self) -> bool:
        return self.active and self.survey_id is not None and self.survey.active

    def intake_address(self) -> tuple[InboundAddress, str] | None:
        """The current intake address and its unsaved row (target: this touchpoint's code),
        or None before the owner asked for one. No query: the token is derived."""
        if not self.intake_generation:
            return None
        row, address = InboundAddress.derived(
            org=None,
            purpose=InboundAddress.Purpose.INTAKE,
            target=f"{self.code}:{self.intake_generation}",
        )
        # The generation only changes the token; the sweep finds the touchpoint by its code.
        row.org_id, row.target = self.org_id, str(self.code)
        return row, address

    @property
    def intake_domains(self) -> list[str]:
        words = re.split(r"[\s,;]+", self.intake_sender_domains.lower())
        return [w.strip().lstrip("@").strip(".") for w in words if w.strip().lstrip("@")]

    def intake_trusts(self, sender: str) -> bool:
        """Whether mail from ``sender`` (a bare address) may start a survey without an owner
        approving it; members are checked by the caller, who has the member list."""
        domain = sender.rpartition("@")[2].lower()
        # A listed domain covers its subdomains (mail.shop.example sends for shop.example).
        return bool(domain) and any(
            domain == d or domain.endswith("." + d) for d in self.intake_domains
        )


class RetiredPublicCode(models.Model):
    """A touchpoint's replaced public link: kept so a printed poster says "replaced" (410)
    instead of "not found", and so the code is never handed out again."""

    code = models.CharField(max_length=32, unique=True)
    touchpoint = models.ForeignKey(Touchpoint, models.CASCADE, related_name="retired_codes")
    retired_at = models.DateTimeField()

    def __str__(self):
        return f"{self.code} (retired)"


class Interaction(models.Model):
    """One moment a customer was served: the event a survey asks about."""

    class Source(models.TextChoices):
        API = "api", _("API")
        CSV = "csv", _("CSV upload")
        FORM = "form", _("Form")
        DEMO = "demo", _("Demo data")
        PUBLIC = "public", _("Public link")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="interactions")
    customer = models.ForeignKey(Customer, models.CASCADE, related_name="interactions")
    touchpoint = models.ForeignKey(Touchpoint, models.PROTECT, related_name="interactions")
    staff = models.ForeignKey(
        Membership, models.SET_NULL, null=True, blank=True, related_name="interactions"
    )
    occurred_at = models.DateTimeField()
    reference = models.CharField(max_length=200, null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgQuerySet.as_manager()

    class Meta:
        constraints = [
            # Idempotent ingest: the caller's reference names one interaction per business.
            models.UniqueConstraint(
                fields=["org", "reference"],
                condition=Q(reference__isnull=False),
                name="interaction_unique_reference_per_org",
            )
        ]

    def __str__(self):
        return f"{self.touchpoint} for {self.customer} at {self.occurred_at:%Y-%m-%d %H:%M}"


class InvitationQuerySet(OrgQuerySet):
    def due(self, now):
        return self.filter(status=Invitation.Status.SCHEDULED, due_at__lte=now)

    def reminder_due(self, now):
        return self.filter(
            status=Invitation.Status.SENT, reminder_due_at__lte=now, reminded_at=None
        )


class Invitation(models.Model):
    """A scheduled ask. Its token opens the survey, unsubscribe and status pages."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Not sent")
        FAILED = "failed", _("Failed")
        # Never emailed: the customer came in through a public link (surveys/public.py). The
        # row is their key, as for everyone else: its token opens their status page once
        # they confirm an address, and the wall and figures find the touchpoint through it.
        PUBLIC = "public", _("Answered through a public link")

    class SkipReason(models.TextChoices):
        OPTED_OUT = "opted_out", _("The customer unsubscribed")
        BOUNCED = "bounced", _("Earlier email to this address bounced")
        FATIGUE = "fatigue", _("Surveyed recently")
        NO_SURVEY = "no_survey", _("The touchpoint has no active survey")
        OPEN_ACTION = "open_action", _("Earlier feedback is still being answered")
        EXPIRED = "expired", _("Expired before it could be sent")
        SUPPRESSED = "suppressed", _("The customer asked us to erase their data")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="invitations")
    interaction = models.OneToOneField(Interaction, models.CASCADE, related_name="invitation")
    customer = models.ForeignKey(Customer, models.CASCADE, related_name="invitations")
    survey_version = models.ForeignKey(
        SurveyVersion, models.PROTECT, null=True, blank=True, related_name="invitations"
    )
    token = models.CharField(max_length=64, unique=True, default=new_token)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    skip_reason = models.CharField(max_length=20, choices=SkipReason.choices, blank=True)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    reminder_due_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        indexes = [
            # send_due_invitations: only scheduled rows, by due time.
            models.Index(
                fields=["due_at"], name="invitation_scheduled_due", condition=Q(status="scheduled")
            ),
            # send_due_invitations (reminders): sent, unanswered-reminder rows by due time.
            models.Index(
                fields=["reminder_due_at"],
                name="invitation_reminder_due",
                condition=Q(status="sent", reminded_at=None, reminder_due_at__isnull=False),
            ),
            models.Index(fields=["org", "-created_at"], name="invitation_org_recent"),
        ]

    def __str__(self):
        return f"Invitation {self.code} ({self.status})"

    def is_expired(self, now) -> bool:
        return self.expires_at <= now

    def reason_not_to_send(
        self, *, now, has_survey: bool, last_surveyed_at=None, reminder=False
    ) -> str:
        """Why this invitation (or its reminder) must not be emailed now; "" when it may.

        The one list of reasons for both: a reminder is part of the same ask, so only the
        fatigue rule (which the first email already passed) doesn't apply to it. Reads the
        customer, the organisation and the touchpoint: load them with the invitation.
        """
        reasons, customer = Invitation.SkipReason, self.customer
        # Erased, or an address on the suppression list (marked when the invitation was
        # recorded, surveys.services): the person asked never to hear from us, which outranks
        # whatever else is true.
        if customer.erased_at or self.skip_reason == reasons.SUPPRESSED:
            return reasons.SUPPRESSED
        # Bounced first: whatever else is true, mail to that address doesn't arrive, and
        # that is what the owner has to fix.
        if customer.bounced_at:
            return reasons.BOUNCED
        if self.is_expired(now):
            return reasons.EXPIRED
        if customer.opted_out_at:
            return reasons.OPTED_OUT
        if customer.survey_hold:
            return reasons.OPEN_ACTION
        # Switched off after the interaction was recorded: nobody wants it sent any more.
        if not has_survey or not self.interaction.touchpoint.active:
            return reasons.NO_SURVEY
        fatigue_days = self.org.fatigue_days
        if reminder or not fatigue_days or last_surveyed_at is None:
            return ""
        if last_surveyed_at > now - timedelta(days=fatigue_days):
            return reasons.FATIGUE
        return ""


class Response(models.Model):
    """A customer's answers to one invitation, their own words, and their consent.

    An answer through a public link (a poster, the website, a kiosk) has an invitation too, of
    status PUBLIC, never emailed: one row per answer, with its interaction and an anonymous
    customer (no address until its owner confirms one). That keeps one shape for every
    response, so routing, the inbox, the action page, the figures, the wall and the customer's
    status page read them all alike; ``channel`` says which door it came through.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        LINK = "link", _("Link")
        QR = "qr", _("QR code")
        WEBSITE = "website", _("Website")
        KIOSK = "kiosk", _("Kiosk")

    class Held(models.TextChoices):
        # Held answers are stored with no ``submitted_at``: routing, figures and the wall see
        # only submitted ones, and an owner releasing one submits it then.
        DAILY_CAP = "daily_cap", _("Over the touchpoint's daily limit")
        HONEYPOT = "honeypot", _("A field people can't see was filled in")
        TOO_FAST = "too_fast", _("Sent faster than a person could read the page")
        STALE_FORM = "stale_form", _("The page's timestamp was missing, forged or a day old")

    org = models.ForeignKey(Organisation, models.CASCADE, related_name="responses")
    invitation = models.OneToOneField(Invitation, models.CASCADE, related_name="response")
    survey_version = models.ForeignKey(SurveyVersion, models.PROTECT, related_name="responses")
    customer = models.ForeignKey(Customer, models.CASCADE, related_name="responses")
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    verbatim = models.TextField(blank=True, max_length=MAX_TEXT)
    consent_to_quote = models.BooleanField(default=False)
    consent_withdrawn_at = models.DateTimeField(null=True, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    held_reason = models.CharField(max_length=20, choices=Held.choices, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        Membership, models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = OrgQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["org", "-submitted_at"], name="response_org_submitted"),
            # The touchpoint page's "held for review" list: held and not yet released.
            models.Index(
                fields=["org", "-created_at"],
                name="response_held",
                condition=~Q(held_reason="") & Q(released_at=None),
            ),
        ]

    def __str__(self):
        return f"Response to {self.invitation_id}"

    @property
    def may_quote(self) -> bool:
        return self.consent_to_quote and self.consent_withdrawn_at is None

    @property
    def is_held(self) -> bool:
        return bool(self.held_reason) and self.released_at is None


class HearBack(models.Model):
    """An address a customer gave on a public page to hear what happens to their feedback.

    Nothing but the one confirmation email goes to it until its owner presses "Confirm" on
    the page that email links to: so nobody can sign someone else up. Confirmed, it becomes
    the response's customer's address, and they hear back like an emailed customer.
    """

    response = models.OneToOneField(Response, models.CASCADE, related_name="hear_back")
    email = models.EmailField()
    token = models.CharField(max_length=64, unique=True, default=new_token)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Hear back for response {self.response_id}"

    def is_expired(self, now) -> bool:
        return self.confirmed_at is None and self.expires_at <= now


#: A rating at or below this is a complaint: it opens an action and counts as a problem.
NEGATIVE_RATING = 2


class AnswerQuerySet(models.QuerySet):
    def negative(self):
        """Answers that raised a problem: the query form of ``Answer.is_negative``."""
        return self.filter(Q(yes_no=False) | Q(rating__lte=NEGATIVE_RATING))


class Answer(models.Model):
    """One answer, stored in the column for its question's kind (the others stay empty).

    The one place that knows how a value travels: ``fields_for`` turns what a form or an
    email link carries ("yes", "4", a choice, text) into columns, ``value`` turns them back,
    ``label_of``/``display_value`` say them to a person and the ``is_``/``rating_at_most``/
    ``choice_is`` tests answer the routing rules' questions.
    """

    response = models.ForeignKey(Response, models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, models.PROTECT, related_name="answers")
    yes_no = models.BooleanField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    choice = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True, max_length=MAX_TEXT)
    answered_at = models.DateTimeField(default=timezone.now)

    objects = AnswerQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_unique"),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="answer_rating_1_to_5",
            ),
        ]

    def __str__(self):
        return f"{self.question}: {self.display_value}"

    @staticmethod
    def fields_for(question: Question, raw: str) -> dict:
        """The Answer fields for a raw value from a form or link. Raises ValidationError.

        A one-click question accepts exactly the values ``Question.one_click_options`` offers.
        """
        kinds = Question.Kind
        blank = {"yes_no": None, "rating": None, "choice": "", "text": ""}
        if question.kind == kinds.TEXT:
            return {**blank, "text": raw or ""}
        raw = (raw or "").strip()
        if raw not in {value for _label, value in question.one_click_options()}:
            raise ValidationError(wording.CHOOSE.get(question.kind, wording.CHOOSE_ONE))
        if question.kind == kinds.YES_NO:
            return {**blank, "yes_no": raw == "yes"}
        if question.kind == kinds.RATING:
            return {**blank, "rating": int(raw)}
        return {**blank, "choice": raw}

    @property
    def value(self) -> str:
        """The raw value ``fields_for`` was given: what the page's form shows as chosen."""
        if self.yes_no is not None:
            return "yes" if self.yes_no else "no"
        if self.rating is not None:
            return str(self.rating)
        return self.choice or self.text

    @staticmethod
    def label_of(*, yes_no: bool | None, rating: int | None, choice: str, text: str = "") -> str:
        """The stored columns as a person reads them ("Yes", "4", the choice): also used on
        rows fetched with ``.values()``, such as the dashboard's roll-ups."""
        if yes_no is not None:
            return "Yes" if yes_no else "No"
        if rating is not None:
            return str(rating)
        return choice or text

    @property
    def display_value(self) -> str:
        label = Answer.label_of(
            yes_no=self.yes_no, rating=self.rating, choice=self.choice, text=self.text
        )
        return f"{label} of 5" if self.rating is not None else label

    @property
    def is_no(self) -> bool:
        return self.yes_no is False

    def rating_at_most(self, limit: int) -> bool:
        return self.rating is not None and self.rating <= limit

    def choice_is(self, wanted: str) -> bool:
        """The chosen option is ``wanted``, ignoring case and surrounding spaces."""
        wanted = wanted.strip().casefold()
        return bool(wanted) and self.choice.strip().casefold() == wanted

    @property
    def is_negative(self) -> bool:
        return self.is_no or self.rating_at_most(NEGATIVE_RATING)


class Suppression(models.Model):
    """An address erased at its owner's request, kept only as a keyed hash
    (``accounts.privacy.address_hash``): the business never surveys that person again, and
    cannot read the address back from this list."""

    org = models.ForeignKey(Organisation, models.CASCADE, related_name="suppressions")
    address_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "address_hash"], name="suppression_unique")
        ]

    def __str__(self):
        return f"Suppressed address {self.address_hash[:12]}…"


class ErasureRequestQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(done_at=None)


class ErasureRequest(models.Model):
    """A customer pressed "Delete what I told you" on their survey or status page.

    Those pages sit on floors that can't see everything the person left behind (the wall, the
    outbox's staff notices), so they record this row and the ``erase-requested-customers``
    sweep (feedback.privacy) carries it out and sets ``done_at``."""

    class Source(models.TextChoices):
        # Not marked for translation: the label is written into the access record's stored
        # detail (feedback.privacy), which keeps the words it was written in.
        SURVEY_PAGE = "survey_page", "The survey page"
        STATUS_PAGE = "status_page", "The status page"

    org = models.ForeignKey(Organisation, models.CASCADE, related_name="erasure_requests")
    customer = models.ForeignKey(Customer, models.CASCADE, related_name="erasure_requests")
    source = models.CharField(max_length=20, choices=Source.choices)
    requested_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = ErasureRequestQuerySet.as_manager()

    class Meta:
        indexes = [
            # The sweep: the few requests not yet carried out, oldest first.
            models.Index(
                fields=["requested_at"], name="erasure_request_pending", condition=Q(done_at=None)
            )
        ]

    def __str__(self):
        return f"Erasure of customer {self.customer_id} ({self.source})"
