import base64
import email.utils
import hashlib
import re
import secrets
import uuid
import zoneinfo
from datetime import time, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import RegexValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils import translation
from django.utils.crypto import salted_hmac
from django.utils.timezone import now
from django.utils.translation import gettext_lazy

HEX_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", gettext_lazy("Use a colour like #1f6f5c."))
# Links Heard hands to customers must not downgrade them to plain http.
HTTPS_URL = URLValidator(schemes=["https"], message=gettext_lazy("Use an https:// address."))
TIMEZONES = sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})


def _derived_token(message: str, size: int = 20) -> str:
    """``size`` bytes of HMAC-SHA256 under SECRET_KEY as lower-case base32 (mail systems may
    change the case of an address's local part on the way back)."""
    digest = salted_hmac("heard.inbound", message, algorithm="sha256").digest()[:size]
    return base64.b32encode(digest).decode().lower()


def _hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        user = self._create_user(email, password, **extra)
        # Whoever runs createsuperuser controls the server: their address needs no emailed
        # proof, and without it mandatory verification would keep them out of the admin.
        # Imported here: allauth's models import the user model, which is this module.
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in: an owner or staff member of one business, or a superuser."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(
        default=False, help_text=gettext_lazy("Can log in to the Django admin.")
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self):
        return self.email

    @property
    def first_name(self) -> str:
        return (self.name.split() or [self.email.split("@")[0]])[0]

    def get_full_name(self):
        return self.name or self.email

    def get_short_name(self):
        return self.first_name


def default_working_days() -> list[int]:
    return [0, 1, 2, 3, 4]  # Monday to Friday, as Python's weekday() counts


class Organisation(models.Model):
    """A business: the tenant every other row belongs to."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    timezone = models.CharField(max_length=64, default="Europe/London")
    working_days = models.JSONField(default=default_working_days)
    work_starts = models.TimeField(default=time(9, 0))
    work_ends = models.TimeField(default=time(17, 30))
    brand_colour = models.CharField(max_length=7, default="#1f6f5c", validators=[HEX_COLOUR])
    logo = models.ImageField(upload_to="logos/", blank=True)
    sender_name = models.CharField(max_length=120, blank=True)
    reply_to = models.EmailField(blank=True)
    # Survey fatigue and timing rules (surveys reads these).
    quiet_starts = models.TimeField(default=time(21, 0))
    quiet_ends = models.TimeField(default=time(8, 0))
    fatigue_days = models.PositiveSmallIntegerField(default=30)
    survey_reminder_days = models.PositiveSmallIntegerField(
        default=3,
        help_text=gettext_lazy("Days before one reminder to unanswered surveys; 0 turns it off."),
    )
    invitation_expiry_days = models.PositiveSmallIntegerField(default=30)
    wall_enabled = models.BooleanField(default=False)
    # A public review page (Google, Trustpilot…), offered to every customer whose loop closed,
    # whatever they answered (actions.reviews): review sites forbid asking only happy ones.
    review_url = models.URLField(
        max_length=500,
        blank=True,
        validators=[HTTPS_URL],
        help_text=gettext_lazy(
            "Offered to every customer once their feedback has been answered, whatever "
            "they said: asking only happy customers is against review sites' rules."
        ),
    )
    require_mfa = models.BooleanField(
        default=False,
        help_text=gettext_lazy(
            "Every member must set up two-factor authentication before anything else."
        ),
    )
    # The language of customers whose own Heard doesn't know or doesn't ship (settings.LANGUAGES;
    # no choices here, so shipping a new language needs no migration).
    default_language = models.CharField(
        max_length=8,
        default="en",
        help_text=gettext_lazy(
            "Customers whose language we don't know or don't have get their surveys, "
            "emails and pages in this one."
        ),
    )
    # Customers with no interaction for this long are anonymised by the daily retention sweep
    # (feedback.privacy), with the same rules as an erasure; the privacy page says so.
    retention_months = models.PositiveSmallIntegerField(
        default=24,
        help_text=gettext_lazy(
            "Customers with no interaction for this many months are anonymised."
        ),
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(work_starts__lt=models.F("work_ends")),
                name="organisation_work_hours_ordered",
            ),
            # Zero would anonymise every customer the night it was saved.
            models.CheckConstraint(
                condition=Q(retention_months__gte=1), name="organisation_retention_positive"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def from_name(self) -> str:
        return self.sender_name or self.name

    def language_for(self, locale: str = "") -> str:
        """The shipped language for a customer's BCP 47 ``locale`` ("fr-CA" is "fr"), else this
        business's default: one language, never a mixture."""
        for code in (locale, self.default_language):
            try:
                tag = (code or "").strip().replace("_", "-").lower()
                return translation.get_supported_language_variant(tag)
            except LookupError:
                continue
        return translation.get_supported_language_variant("en")

    def owners(self):
        return self.memberships.filter(role=Membership.Role.OWNER).select_related("user")


class Membership(models.Model):
    """A user's place in one organisation. A user belongs to at most one business."""

    class Role(models.TextChoices):
        OWNER = "owner", gettext_lazy("Owner")
        STAFF = "staff", gettext_lazy("Staff")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="memberships")
    user = models.OneToOneField(User, models.CASCADE, related_name="membership")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.STAFF)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["user__name", "user__email"]

    def __str__(self):
        return f"{self.user} ({self.get_role_display()} of {self.org})"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER

    @property
    def display_name(self) -> str:
        return self.user.name or self.user.email

    @property
    def first_name(self) -> str:
        return self.user.first_name


class StaffInviteQuerySet(models.QuerySet):
    def pending(self, now):
        return self.filter(accepted_at=None, revoked_at=None, expires_at__gt=now)


class StaffInvite(models.Model):
    """An owner's invitation to join the business; the emailed link sets a password."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="staff_invites")
    email = models.EmailField()
    name = models.CharField(max_length=150, blank=True)
    role = models.CharField(
        max_length=10, choices=Membership.Role.choices, default=Membership.Role.STAFF
    )
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(Membership, models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = StaffInviteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Invite for {self.email} to {self.org}"

    @staticmethod
    def new_token() -> tuple[str, str]:
        """Return (raw token for the link, its hash to store)."""
        raw = secrets.token_urlsafe(32)
        return raw, _hash_secret(raw)

    @classmethod
    def find(cls, raw_token: str):
        return cls.objects.select_related("org").filter(token_hash=_hash_secret(raw_token)).first()

    def is_usable(self, now) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now

    @staticmethod
    def default_expiry(now):
        return now + settings.HEARD.get("STAFF_INVITE_TTL", timedelta(days=7))


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at=None)


def _no_scopes() -> list[str]:
    return []


class ApiToken(models.Model):
    """A bearer token for the API. Only its hash is stored; it is shown once.

    Its scopes say which parts of the API it may use, chosen when it is created: a till that
    only reports interactions never needs to read customers' words.
    """

    PREFIX = "heard_"

    class Scope(models.TextChoices):
        INGEST = "ingest", gettext_lazy("Send interactions")
        READ = "read", gettext_lazy("Read responses, actions and customers")
        WEBHOOKS = "webhooks", gettext_lazy("Subscribe and unsubscribe webhooks")
        PRIVACY = "privacy", gettext_lazy("Export and erase a customer's data")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    hint = models.CharField(
        max_length=16, help_text=gettext_lazy("The first characters, to recognise it.")
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(Membership, models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # A list of Scope values (JSON, so SQLite development databases hold it too).
    scopes = models.JSONField(default=_no_scopes, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(
        cls, *, org, name: str, created_by=None, scopes=(Scope.INGEST,)
    ) -> tuple["ApiToken", str]:
        """Create a token; return it with the raw secret, which is never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            org=org,
            name=name,
            hint=raw[:10],
            token_hash=_hash_secret(raw),
            created_by=created_by,
            scopes=[str(scope) for scope in scopes],
        )
        return token, raw

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    @classmethod
    def authenticate(cls, raw: str):
        """Return the active token for a raw secret, or None."""
        if not raw or not raw.startswith(cls.PREFIX) or len(raw) > 100:
            return None
        return (
            cls.objects.active().select_related("org").filter(token_hash=_hash_secret(raw)).first()
        )

    def touch(self, now) -> None:
        # Write at most once a minute: a busy integration should not rewrite this row per call.
        if self.last_used_at is None or now - self.last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


class OutgoingEmailQuerySet(models.QuerySet):
    def queued(self):
        return self.filter(sent_at=None, failed_at=None)

    def sendable(self, now):
        """Queued, due (not backing off) and not leased to a sweep that is sending it."""
        return self.queued().filter(
            Q(next_attempt_at=None) | Q(next_attempt_at__lte=now),
            Q(claimed_until=None) | Q(claimed_until__lt=now),
        )


class OutgoingEmail(models.Model):
    """Every email Heard sends, under a unique key, recorded and committed before it is sent.

    A sweep leases a row (``claimed_by``/``claimed_until``, committed) before handing it to
    the provider and marks it sent right after, each in its own transaction
    (``accounts.mail``): the unique ``key`` means a retried task or a second sweep never
    sends it twice, and a crash repeats at most the one message in flight, with the same
    Message-ID.
    """

    org = models.ForeignKey(
        Organisation, models.CASCADE, null=True, blank=True, related_name="outgoing_emails"
    )
    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=40)
    to = models.EmailField()
    from_email = models.CharField(max_length=250)
    reply_to = models.CharField(max_length=250, blank=True)
    subject = models.CharField(max_length=250)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # After a failure, not before this (backing off); None: as soon as the sweep gets to it.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=250, blank=True)
    # The sweep sending it right now, and until when its lease holds.
    claimed_by = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Its Message-ID header (``accounts.mail.message_id``), stored when the row is built: a
    # bounce that quotes it, or a reply's In-Reply-To, finds the row by an indexed lookup.
    message_id = models.CharField(max_length=250, blank=True, db_index=True)
    # What came back about it (accounts.inbound records these from webhooks and bounces).
    delivered_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)

    objects = OutgoingEmailQuerySet.as_manager()

    class Meta:
        indexes = [
            # The dashboard's deliverability figures (feedback.queries.deliverability): one
            # business's emails of the last 30 days, not the whole outbox.
            models.Index(fields=["org", "sent_at"], name="outgoing_email_org_sent"),
            # send_queued_emails: the small set of emails still waiting to go out.
            models.Index(
                fields=["created_at", "next_attempt_at"],
                name="outgoing_email_queued",
                condition=Q(sent_at=None, failed_at=None),
            ),
            # accounts.inbound: a provider's webhook names the email by the id it gave it.
            models.Index(
                fields=["provider_message_id"],
                name="outgoing_email_provider_id",
                condition=~Q(provider_message_id=""),
            ),
        ]

    def __str__(self):
        return f"{self.kind} to {self.to}: {self.subject}"

    # The bounce token: 5 bytes of the row's id and 15 of an HMAC of id and key, in the
    # 32 base32 characters of InboundAddress.LOCAL_PART. Stateless, so a bounce address costs
    # no row per email, and 120 bits of MAC can't be guessed to mark someone else's email.
    def bounce_token(self) -> str:
        mac = _derived_token(f"bounce:{self.pk}:{self.key}", size=15)
        return base64.b32encode(self.pk.to_bytes(5, "big")).decode().lower() + mac

    def bounce_address(self) -> str:
        """This email's own envelope sender (VERP): a bounce sent to it names this email."""
        return f"b-{self.bounce_token()}@{settings.INBOUND_DOMAIN}"

    @classmethod
    def from_bounce_token(cls, token: str) -> "OutgoingEmail | None":
        try:
            pk = int.from_bytes(base64.b32decode(token[:8].upper()), "big")
        except ValueError:
            return None
        outgoing = cls.objects.select_related("org").filter(pk=pk).first()
        if outgoing is None or not secrets.compare_digest(outgoing.bounce_token(), token):
            return None
        return outgoing

    @property
    def delivery_state(self) -> str:
        """queued, sent, delivered, bounced, complained or failed: the furthest fact known.

        A complaint or a bounce outranks delivery (a bounce can come after the receiving
        server accepted it); failed means the outbox gave up and it never left."""
        if self.complained_at:
            return "complained"
        if self.bounced_at:
            return "bounced"
        if self.failed_at:
            return "failed"
        if self.delivered_at:
            return "delivered"
        if self.sent_at:
            return "sent"
        return "queued"


class InboundAddress(models.Model):
    """An address on ``INBOUND_DOMAIN`` that stands for one thing: replies to an invitation
    or an action, one outgoing email's bounces (VERP), or a touchpoint's intake.

    The local part is ``<prefix>-<token>``: the token is 160 random bits, stored only as a
    hash, so the address is the key and can't be guessed. Tokens are lower-case base32
    because mail systems may change the case of a local part on the way back.
    """

    class Purpose(models.TextChoices):
        REPLY_INVITATION = "reply_invitation", gettext_lazy("Reply to an invitation")
        REPLY_ACTION = "reply_action", gettext_lazy("Reply to an action")
        BOUNCE = "bounce", gettext_lazy("Bounces of one email")
        INTAKE = "intake", gettext_lazy("Intake")

    PREFIXES = {
        Purpose.REPLY_INVITATION: "r",
        Purpose.REPLY_ACTION: "r",
        Purpose.BOUNCE: "b",
        Purpose.INTAKE: "in",
    }
    LOCAL_PART = re.compile(r"^(r|b|in)-([a-z2-7]{32})$")

    org = models.ForeignKey(
        Organisation, models.CASCADE, null=True, blank=True, related_name="inbound_addresses"
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    # The code (UUID) of the invitation, action or touchpoint this address stands for: a
    # lower floor records the code, since it can't point at a higher floor's rows.
    target = models.CharField(max_length=64, blank=True)
    # For a bounce address: the one email it was the envelope sender of.
    outgoing = models.ForeignKey(
        "OutgoingEmail", models.SET_NULL, null=True, blank=True, related_name="inbound_addresses"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "inbound addresses"

    def __str__(self):
        return f"{self.get_purpose_display()} {self.target or self.outgoing_id or ''}".strip()

    @classmethod
    def issue(
        cls, *, org=None, purpose: str, target: str = "", outgoing=None
    ) -> tuple["InboundAddress", str]:
        """Create an address; return the row and the full address, which is never stored."""
        token = base64.b32encode(secrets.token_bytes(20)).decode().lower()
        row = cls.objects.create(
            org=org,
            purpose=purpose,
            target=str(target or ""),
            outgoing=outgoing,
            token_hash=_hash_secret(token),
        )
        return row, f"{cls.PREFIXES[purpose]}-{token}@{settings.INBOUND_DOMAIN}"

    @classmethod
    def derived(cls, *, org, purpose: str, target: str) -> tuple["InboundAddress", str]:
        """The address that always stands for ``target`` (an invitation's or an action's
        code), and its row, unsaved: save it with ``bulk_create(…, ignore_conflicts=True)``.

        The token is an HMAC of the target under SECRET_KEY: every email about the same thing
        carries the same address without a lookup, and it is as unguessable as a random one.
        """
        token = _derived_token(f"inbound-address:{purpose}:{target}")
        row = cls(org=org, purpose=purpose, target=str(target), token_hash=_hash_secret(token))
        return row, f"{cls.PREFIXES[purpose]}-{token}@{settings.INBOUND_DOMAIN}"

    @classmethod
    def resolve(cls, address: str) -> "InboundAddress | None":
        """The live row an address on INBOUND_DOMAIN stands for, or None."""
        addr = email.utils.parseaddr(address or "")[1].strip().lower()
        local, _, domain = addr.rpartition("@")
        if domain != settings.INBOUND_DOMAIN.lower():
            return None
        match = cls.LOCAL_PART.match(local)
        if not match:
            return None
        if match.group(1) == "b":
            # A message's envelope sender (VERP) names its email itself: no row to look up.
            outgoing = OutgoingEmail.from_bounce_token(match.group(2))
            if outgoing is not None:
                return cls(org=outgoing.org, purpose=cls.Purpose.BOUNCE, outgoing=outgoing)
        row = (
            cls.objects.select_related("org", "outgoing")
            .filter(token_hash=_hash_secret(match.group(2)), revoked_at=None)
            .first()
        )
        # An r- token under a b- prefix is not the address that was issued.
        if row is None or cls.PREFIXES[row.purpose] != match.group(1):
            return None
        return row


class InboundEventQuerySet(models.QuerySet):
    def unprocessed(self):
        return self.filter(processed_at=None)

    def of_kind(self, *kinds: str):
        return self.filter(kind__in=kinds)


class InboundEvent(models.Model):
    """Something that came back: a provider's tracking event, a bounce, a complaint, a reply.

    A row first (``accounts.inbound`` records it, once per ``dedupe_key``); the sweeps on the
    higher floors process it and set ``processed_at`` (bounces and complaints → customers in
    surveys, replies → actions), recording ``attempts`` and ``last_error`` when they fail.
    """

    class Kind(models.TextChoices):
        DELIVERED = "delivered", gettext_lazy("Delivered")
        BOUNCED = "bounced", gettext_lazy("Bounced")
        DEFERRED = "deferred", gettext_lazy("Deferred")
        COMPLAINED = "complained", gettext_lazy("Complained")
        REJECTED = "rejected", gettext_lazy("Rejected")
        UNSUBSCRIBED = "unsubscribed", gettext_lazy("Unsubscribed")
        REPLY = "reply", gettext_lazy("Reply")
        AUTO_REPLY = "auto_reply", gettext_lazy("Automatic reply")
        INTAKE = "intake", gettext_lazy("Intake")
        UNKNOWN = "unknown", gettext_lazy("Unknown")

    org = models.ForeignKey(
        Organisation, models.CASCADE, null=True, blank=True, related_name="inbound_events"
    )
    # "smtp", or the anymail provider: "postmark", "mailgun", "amazon_ses", "sendgrid", …
    source = models.CharField(max_length=40)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The provider's event id, or a message's Message-ID, or a hash of its bytes: a replayed
    # webhook or a message delivered twice is stored once.
    dedupe_key = models.CharField(max_length=255, unique=True)
    outgoing = models.ForeignKey(
        OutgoingEmail, models.SET_NULL, null=True, blank=True, related_name="inbound_events"
    )
    inbound_address = models.ForeignKey(
        InboundAddress, models.SET_NULL, null=True, blank=True, related_name="events"
    )
    # The inbound address it was sent to (a reply, bounce or intake address).
    address = models.CharField(max_length=320, blank=True)
    # Whom an outgoing email was for, as the bounce, complaint or tracking event names them.
    recipient = models.CharField(max_length=320, blank=True)
    sender = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    # A reply's new text (quoted history and signature removed); a bounce's diagnostic.
    text = models.TextField(blank=True)
    # The whole message as received, or the provider's JSON payload.
    raw = models.TextField(blank=True)
    status_code = models.CharField(max_length=16, blank=True)
    is_auto = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=now)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = InboundEventQuerySet.as_manager()

    class Meta:
        indexes = [
            # The higher floors' sweeps (bounces and complaints in surveys, replies in
            # actions): the few unprocessed events of their kinds, oldest first.
            models.Index(
                fields=["kind", "received_at"],
                name="inbound_event_unprocessed",
                condition=Q(processed_at=None),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} via {self.source}: {self.subject or self.dedupe_key}"


class OrgEvent(models.Model):
    """A fact about one business that its outbound webhooks and chat integrations may hear
    about: the event outbox (``accounts.hooks``).

    Each floor's services record one in the same transaction as the change it describes
    (``accounts.hooks.org_event_record``), so an event exists exactly when its change
    committed. The ``send-webhooks`` sweep fans it out into one ``WebhookDelivery`` per
    matching endpoint and sets ``fanned_out_at``.
    """

    class Type(models.TextChoices):
        RESPONSE_CREATED = "response.created", gettext_lazy("A customer answered a survey")
        ACTION_CREATED = "action.created", gettext_lazy("An action was opened")
        ACTION_REASSIGNED = "action.reassigned", gettext_lazy("An action was reassigned")
        ACTION_OVERDUE = "action.overdue", gettext_lazy("An action is overdue")
        ACTION_CLOSED = "action.closed", gettext_lazy("An action was closed")
        LOOP_SENT = "loop.sent", gettext_lazy("The customer was told what was done")
        LOOP_ANSWERED = (
            "loop.answered",
            gettext_lazy("The customer answered “Did this sort it out?”"),
        )
        CUSTOMER_REPLIED = "customer.replied", gettext_lazy("A customer replied by email")
        WALL_PUBLISHED = "wall.published", gettext_lazy("A quote was published on the wall")
        WALL_UNPUBLISHED = "wall.unpublished", gettext_lazy("A quote was taken off the wall")
        # Only ever delivered to the one endpoint whose "Send a test event" made it.
        TEST = "webhook.test", gettext_lazy("A test event")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="org_events")
    type = models.CharField(max_length=40, choices=Type.choices)
    # The envelope's "data": documented per type in README, "Webhooks and chat".
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=now)
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    # Why fanning out failed, if it did (the sweep moves on to the next event).
    fan_out_error = models.TextField(blank=True)
    # For a fact that a retried sweep could record again (``response.created``): the unique
    # key that makes the second record a no-op, as the email outbox's key does.
    key = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            # The fan-out sweep: the few events not yet turned into deliveries.
            models.Index(
                fields=["created_at"],
                name="org_event_unfanned",
                condition=Q(fanned_out_at=None),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["key"], name="org_event_key", condition=~Q(key="")),
        ]

    def __str__(self):
        return f"{self.type} at {self.created_at:%Y-%m-%d %H:%M}"

    def envelope(self) -> dict:
        """The JSON every webhook receives: the same bytes on every retry and replay."""
        return {
            "type": self.type,
            "version": 1,
            "timestamp": self.created_at.isoformat().replace("+00:00", "Z"),
            "data": self.payload,
        }


class WebhookEndpointQuerySet(models.QuerySet):
    def enabled(self):
        return self.filter(enabled=True)


class WebhookEndpoint(models.Model):
    """Where an owner wants a business's events sent: their own URL (signed per the Standard
    Webhooks specification) or a Slack, Microsoft Teams or Google Chat incoming webhook."""

    class Kind(models.TextChoices):
        # The chat services' own names stay as they are in every language.
        WEBHOOK = "webhook", gettext_lazy("Webhook")
        SLACK = "slack", "Slack"
        TEAMS = "teams", "Microsoft Teams"
        GOOGLE_CHAT = "google_chat", "Google Chat"

    # How long the secret before a rotation still signs, so receivers can switch over.
    ROTATION_OVERLAP = timedelta(hours=24)
    # An endpoint that has failed every attempt for this long is switched off.
    DISABLE_AFTER = timedelta(days=3)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="webhook_endpoints")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.WEBHOOK)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # OrgEvent types this endpoint hears.
    events = models.JSONField(default=list)
    # Touchpoint slugs (as the API names them); empty means every touchpoint. Slugs, not
    # keys: this floor can't point at surveys' rows.
    touchpoints = models.JSONField(default=list, blank=True)
    # Signing needs the secret itself (an HMAC key), so unlike API tokens it can't be stored
    # as a hash. Chat integrations have none: the vendor's URL is their secret.
    secret = models.CharField(max_length=100, blank=True)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # The first failed attempt since the last success: three days of it switch it off.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(Membership, models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=now)

    objects = WebhookEndpointQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.description or self.host}"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def is_chat(self) -> bool:
        return self.kind != self.Kind.WEBHOOK

    @staticmethod
    def new_secret() -> str:
        """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()

    def signing_secrets(self, at) -> list[str]:
        """The secrets that sign a message sent at ``at``: the current one, and for a day
        after a rotation the one before it."""
        keys = [self.secret]
        if self.previous_secret and self.previous_secret_until and at < self.previous_secret_until:
            keys.append(self.previous_secret)
        return keys

    def hears(self, event: "OrgEvent") -> bool:
        """Whether ``event`` is one this endpoint wants."""
        if event.type not in self.events:
            return False
        if not self.touchpoints:
            return True
        touchpoint = _event_touchpoint(event.payload)
        return touchpoint in self.touchpoints

    def failing_too_long(self, at) -> bool:
        return self.failing_since is not None and at - self.failing_since >= self.DISABLE_AFTER


def _event_touchpoint(payload: dict) -> str:
    """The slug of the touchpoint an event is about, wherever its data keeps it."""
    for key in ("action", "response"):
        touchpoint = (payload.get(key) or {}).get("touchpoint") or {}
        if touchpoint.get("slug"):
            return touchpoint["slug"]
    return ""


class WebhookDeliveryQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(delivered_at=None, failed_at=None)

    def sendable(self, now):
        """Pending, due (not backing off), not leased, and to an endpoint still switched on."""
        return self.pending().filter(
            Q(next_attempt_at=None) | Q(next_attempt_at__lte=now),
            Q(claimed_until=None) | Q(claimed_until__lt=now),
            endpoint__enabled=True,
        )


class WebhookDelivery(models.Model):
    """One event for one endpoint: recorded (and committed) before it is sent, sent by the
    worker, retried with back-off, and marked delivered or given up in its own transaction.

    ``code`` is its ``webhook-id``: the same on every retry, so a receiver can drop a
    duplicate. A replay is a new delivery of the same event, with its own id.
    """

    class Kind(models.TextChoices):
        EVENT = "event", gettext_lazy("Event")
        TEST = "test", gettext_lazy("Test")
        REPLAY = "replay", gettext_lazy("Replay")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organisation, models.CASCADE, related_name="webhook_deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OrgEvent, models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.EVENT)
    replay_of = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="replays"
    )
    created_at = models.DateTimeField(default=now)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Given up on (after about a day of retries).
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        constraints = [
            # An event reaches an endpoint once, however many sweeps fan it out; replays are
            # deliberate extra deliveries.
            models.UniqueConstraint(
                fields=["endpoint", "event"],
                condition=~Q(kind="replay"),
                name="webhook_delivery_once",
            ),
        ]
        indexes = [
            # The sending sweep: the small set of deliveries still to go out.
            models.Index(
                fields=["created_at", "next_attempt_at"],
                name="webhook_delivery_pending",
                condition=Q(delivered_at=None, failed_at=None),
            ),
        ]

    def __str__(self):
        return f"{self.webhook_id} to {self.endpoint_id}"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.code.hex}"

    @property
    def state(self) -> str:
        if self.delivered_at:
            return "delivered"
        if self.failed_at:
            return "failed"
        return "retrying" if self.attempts else "queued"


class WebhookAttempt(models.Model):
    """One try at sending a delivery: the delivery log an owner reads."""

    delivery = models.ForeignKey(WebhookDelivery, models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField(default=now)
    # None when no answer came (refused address, timeout, connection error).
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    # The first 500 bytes of the answer, as text.
    response_excerpt = models.TextField(blank=True)
    # How much of the answer was read (never more than 64 KB) and whether it was cut there.
    response_bytes = models.PositiveIntegerField(default=0)
    response_truncated = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        return f"Attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class AccessRecordQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Access records are append-only.")

    def delete(self):
        raise TypeError("Access records are append-only.")


class AccessRecord(models.Model):
    """Who looked at or changed a customer's data: one row per export, erasure, CSV download
    and customer search, written by the page that did it (``accounts.privacy.access_record``).

    Append-only (the model and its queryset refuse updates and deletes; a whole business
    going still cascades). ``subject`` is a keyed hash of the address
    (``accounts.privacy.address_hash``), never the address itself, so the log of who looked
    at a customer's data does not become one more copy of it, and survives their erasure.
    """

    class Kind(models.TextChoices):
        EXPORT = "export", gettext_lazy("Exported a customer's data")
        ERASE = "erase", gettext_lazy("Erased a customer")
        CSV_DOWNLOAD = "csv_download", gettext_lazy("Downloaded a CSV")
        CUSTOMER_SEARCH = "customer_search", gettext_lazy("Searched for a customer")

    org = models.ForeignKey(Organisation, models.CASCADE, related_name="access_records")
    # None when the business itself did it (the customer's own request, the API, retention).
    member = models.ForeignKey(Membership, models.SET_NULL, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    subject = models.CharField(max_length=64, blank=True)
    # What, in a few words that name no customer: "responses, 30 days", "staff notes left out".
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=now)

    objects = AccessRecordQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["org", "-created_at"], name="access_record_org_recent")]

    def __str__(self):
        return f"{self.kind} by {self.member_id} at {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise TypeError("Access records are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Access records are append-only.")
