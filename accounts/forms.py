import re
import secrets
import warnings
from io import BytesIO
from pathlib import PurePath

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from PIL import Image

from .chat import chat_url_problem
from .hooks import EVENT_TYPES, webhook_url_problem
from .models import (
    HTTPS_URL,
    TIMEZONES,
    ApiToken,
    Membership,
    Organisation,
    User,
    WebhookEndpoint,
)
from .services import organisation_create

# breaks_lines is imported from here by accounts/adapter.py.
from .text import breaks_lines as breaks_lines
from .text import is_storable, line_storable

LOGO_MAX_BYTES = 1_000_000
LOGO_MAX_PIXELS = 4096  # per side
# What Pillow finds in the bytes, and the extension the stored file gets from it: the logo view
# answers with the type its name implies, so the name must say what the bytes are.
LOGO_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
WEEKDAYS = [
    (0, _("Mon")),
    (1, _("Tue")),
    (2, _("Wed")),
    (3, _("Thu")),
    (4, _("Fri")),
    (5, _("Sat")),
    (6, _("Sun")),
]


def _with_logo_pixels(message) -> str:
    """``message`` (lazy) with the logo's pixel cap filled in each time it is shown."""
    return lazy(lambda: message % {"pixels": LOGO_MAX_PIXELS}, str)()


class LineField(forms.CharField):
    """A CharField for one line of text (names, labels): see ``accounts.text.line_storable``."""

    def clean(self, value):
        value = super().clean(value)
        return line_storable(value, what=str(self.label or "This")) if value else value


class HeaderEmailField(forms.EmailField):
    """An email address that goes into a header (To, Reply-To). Django's validator lets
    U+2028 and U+2029 through in the domain part; they would break the header."""

    def clean(self, value):
        if value and isinstance(value, str):
            line_storable(value, what=str(self.label or "This"))
        return super().clean(value)


class BusinessSignupForm(forms.Form):
    """Extra fields on allauth's sign-up: the person's name and their business."""

    name = LineField(label=_("Your name"), max_length=150)
    business_name = LineField(label=_("Business name"), max_length=120)
    timezone = forms.ChoiceField(
        label=_("Time zone"), choices=[(tz, tz) for tz in TIMEZONES], initial="Europe/London"
    )

    field_order = ["name", "business_name", "timezone", "email", "password1", "password2"]

    def clean_business_name(self):
        value = self.cleaned_data["business_name"]
        if not any(ch.isalnum() for ch in value):
            raise forms.ValidationError(
                gettext("Give your business a name with letters or numbers in it.")
            )
        return value

    def signup(self, request, user):
        user.name = self.cleaned_data["name"]
        user.save(update_fields=["name"])
        organisation_create(
            name=self.cleaned_data["business_name"],
            owner=user,
            timezone=self.cleaned_data["timezone"],
        )


class LogoField(forms.ImageField):
    """An uploaded logo: PNG, JPEG or WebP by its content (whatever its name or declared type
    says), at most ``LOGO_MAX_BYTES`` and ``LOGO_MAX_PIXELS`` on each side.

    Pillow only reads the header here. The pixel cap matters because a few hundred bytes of
    PNG can declare gigapixels, and every mail client and browser that shows the logo would
    decode them.
    """

    default_error_messages = {
        "invalid_image": _("Use a PNG, JPEG or WebP image for the logo."),
        "too_large": _("The logo is too large: use an image up to 1 MB."),
        "too_many_pixels": _with_logo_pixels(
            _("The logo is too big: use an image of at most %(pixels)s × %(pixels)s pixels.")
        ),
    }

    def to_python(self, data):
        upload = forms.FileField.to_python(self, data)
        if upload is None:
            return None
        if upload.size > LOGO_MAX_BYTES:
            raise forms.ValidationError(self.error_messages["too_large"], code="too_large")
        if hasattr(data, "temporary_file_path"):
            source = data.temporary_file_path()
        else:
            source = BytesIO(data.read())
        try:
            # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; either way it
            # is far beyond the cap, so both end in the same clear message.
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(source)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise forms.ValidationError(
                self.error_messages["too_many_pixels"], code="too_many_pixels"
            ) from None
        except Exception as exc:  # anything Pillow can't read is not a logo
            raise forms.ValidationError(
                self.error_messages["invalid_image"], code="invalid_image"
            ) from exc
        if image.format not in LOGO_FORMATS:
            raise forms.ValidationError(self.error_messages["invalid_image"], code="invalid_image")
        width, height = image.size
        if width > LOGO_MAX_PIXELS or height > LOGO_MAX_PIXELS:
            raise forms.ValidationError(
                self.error_messages["too_many_pixels"], code="too_many_pixels"
            )
        try:
            image.verify()  # checks the structure (PNG checksums, …) without decoding pixels
        except Exception as exc:
            raise forms.ValidationError(
                self.error_messages["invalid_image"], code="invalid_image"
            ) from exc
        upload.image = image
        upload.content_type = Image.MIME[image.format]
        upload.name = (PurePath(upload.name).stem or "logo") + LOGO_FORMATS[image.format]
        if hasattr(upload, "seek") and callable(upload.seek):
            upload.seek(0)
        return upload


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self):
        super().__init__(format="%H:%M")


class OrganisationForm(forms.ModelForm):
    name = LineField(label=_("Business name"), max_length=120)
    timezone = forms.ChoiceField(label=_("Time zone"), choices=[(tz, tz) for tz in TIMEZONES])
    working_days = forms.TypedMultipleChoiceField(
        label=_("Working days"),
        choices=WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Deadlines and reminders count only these days."),
        error_messages={"required": _("Pick at least one working day.")},
    )
    sender_name = LineField(
        label=_("Sender name"),
        max_length=120,
        required=False,
        help_text=_("The name customers see on emails. Leave empty to use the business name."),
    )
    logo = LogoField(
        label=_("Logo"),
        required=False,
        help_text=_with_logo_pixels(
            _("PNG, JPEG or WebP, up to 1 MB and %(pixels)s pixels on each side.")
        ),
    )
    reply_to = HeaderEmailField(
        label=_("Reply-to address"),
        max_length=254,
        required=False,
        help_text=_(
            "Customers' replies to survey emails land in Heard as their words; a copy goes "
            "here too, ready to answer."
        ),
    )
    fatigue_days = forms.IntegerField(
        label=_("Survey fatigue (days)"),
        min_value=0,
        max_value=365,
        help_text=_("Never survey the same customer twice within this many days."),
    )
    survey_reminder_days = forms.IntegerField(
        label=_("Survey reminder (days)"),
        min_value=0,
        max_value=60,
        help_text=_("Days before one reminder to unanswered surveys; 0 turns reminders off."),
    )
    invitation_expiry_days = forms.IntegerField(
        label=_("Survey links expire after (days)"), min_value=1, max_value=365
    )
    # Not required: a settings page that doesn't show it keeps the period it had.
    retention_months = forms.IntegerField(
        label=_("Keep customers' data for (months)"),
        min_value=1,
        max_value=240,
        required=False,
        help_text=_(
            "Customers with no interaction for this long are anonymised automatically; "
            "your privacy page says so."
        ),
    )
    review_url = forms.URLField(
        label=_("Public review link"),
        max_length=500,
        required=False,
        assume_scheme="https",
        validators=[HTTPS_URL],
        help_text=_(
            "Google, Trustpilot or any review page. Offered once to every customer whose "
            "feedback you've answered, whatever they said: review sites forbid asking only "
            "happy customers."
        ),
    )
    # Not required: a settings page that doesn't show the field keeps the language it had,
    # rather than refusing every other change.
    default_language = forms.ChoiceField(
        label=_("Customers' default language"),
        choices=settings.LANGUAGES,
        required=False,
        help_text=_("For customers whose own language we don't know or don't have yet."),
    )

    def clean_retention_months(self):
        value = self.cleaned_data.get("retention_months")
        return self.instance.retention_months if value is None else value

    class Meta:
        model = Organisation
        fields = [
            "name",
            "timezone",
            "working_days",
            "work_starts",
            "work_ends",
            "brand_colour",
            "logo",
            "sender_name",
            "reply_to",
            "quiet_starts",
            "quiet_ends",
            "fatigue_days",
            "survey_reminder_days",
            "invitation_expiry_days",
            "retention_months",
            "wall_enabled",
            "review_url",
            "require_mfa",
            "default_language",
        ]
        labels = {
            "work_starts": _("Work starts"),
            "work_ends": _("Work ends"),
            "brand_colour": _("Brand colour"),
            "quiet_starts": _("Quiet hours start"),
            "quiet_ends": _("Quiet hours end"),
            "wall_enabled": _("Publish a public “you said, we did” wall"),
            "require_mfa": _("Require two-factor authentication for every member"),
        }
        help_texts = {
            "brand_colour": _(
                "Used for the header and buttons; text on it keeps readable contrast."
            ),
            "quiet_starts": _("No survey emails go out between these times (business time zone)."),
        }
        widgets = {
            "work_starts": TimeInput(),
            "work_ends": TimeInput(),
            "quiet_starts": TimeInput(),
            "quiet_ends": TimeInput(),
            "brand_colour": forms.TextInput(attrs={"type": "color"}),
        }

    def clean_working_days(self):
        days = sorted(set(self.cleaned_data["working_days"]))
        if not days:
            raise forms.ValidationError(gettext("Pick at least one working day."))
        return days

    def clean_default_language(self):
        return self.cleaned_data["default_language"] or self.instance.default_language or "en"

    def clean_brand_colour(self):
        return self.cleaned_data["brand_colour"].lower()

    def clean_review_url(self):
        # A settings page that doesn't show the field yet posts nothing for it: keep the
        # saved link rather than erase it.
        if "review_url" not in self.data:
            return self.instance.review_url
        return self.cleaned_data["review_url"]

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("work_starts"), cleaned.get("work_ends")
        if starts and ends and starts >= ends:
            self.add_error("work_ends", gettext("Work must end after it starts."))
        return cleaned


class StaffInviteForm(forms.Form):
    email = HeaderEmailField(label=_("Email address"), max_length=254)
    name = LineField(label=_("Name (optional)"), max_length=150, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices, initial="staff")

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()


class JoinForm(forms.Form):
    """Accepting a staff invitation: the new member's name and password."""

    name = LineField(label=_("Your name"), max_length=150)
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password (again)"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_password1(self):
        password = self.cleaned_data["password1"]
        if not is_storable(password):
            raise forms.ValidationError(
                gettext("The password contains a character that can't be used.")
            )
        return password

    def clean(self):
        cleaned = super().clean()
        one, two = cleaned.get("password1"), cleaned.get("password2")
        if one and two and one != two:
            self.add_error("password2", gettext("The two passwords don't match."))
        elif one:
            try:
                password_validation.validate_password(
                    one, User(email=self.email, name=cleaned.get("name") or "")
                )
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class ApiTokenForm(forms.Form):
    name = LineField(
        label=_("Token name"),
        max_length=80,
        help_text=_("What uses it, e.g. “Till integration”."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("What it may do"),
        choices=ApiToken.Scope.choices,
        initial=[ApiToken.Scope.INGEST],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Give each integration only what it needs."),
        error_messages={"required": _("Choose at least one thing this token may do.")},
    )
    # One key per rendered form: reloading the page that showed a new token re-sends the same
    # key, and that second POST must not quietly create a second token.
    form_key = forms.CharField(widget=forms.HiddenInput, max_length=40, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("form_key", secrets.token_urlsafe(16))


class ProfileForm(forms.Form):
    name = LineField(label=_("Your name"), max_length=150)


def invite_ttl_days() -> int:
    return settings.HEARD["STAFF_INVITE_TTL"].days


class IntegrationForm(forms.Form):
    """An outbound webhook or a chat integration (/settings/integrations/)."""

    kind = forms.ChoiceField(label=_("Send to"), choices=WebhookEndpoint.Kind.choices)
    url = forms.URLField(
        label=_("URL"),
        max_length=2000,
        assume_scheme="https",
        help_text=_(
            "Your endpoint, or the incoming-webhook address Slack, Teams or Google Chat gave you."
        ),
    )
    description = LineField(label=_("Description"), max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[(t.value, t.value) for t in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one event.")},
    )
    touchpoints = forms.CharField(
        label=_("Only these touchpoints"),
        max_length=1000,
        required=False,
        help_text=_("Touchpoint slugs as the API names them, separated by commas; empty for all."),
    )

    def __init__(self, *args, kind_fixed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if kind_fixed:
            # What an endpoint is doesn't change: its secret or format depends on it.
            self.fields["kind"].disabled = True

    def clean_touchpoints(self) -> list[str]:
        slugs = [s.strip() for s in self.cleaned_data["touchpoints"].split(",") if s.strip()]
        if any(not re.fullmatch(r"[-a-zA-Z0-9_]{1,60}", s) for s in slugs):
            raise forms.ValidationError(gettext("Use touchpoint slugs such as repair-collected."))
        return slugs

    def clean(self):
        data = super().clean()
        kind, url = data.get("kind"), data.get("url")
        if not kind or not url:
            return data
        if kind == WebhookEndpoint.Kind.WEBHOOK:
            problem = webhook_url_problem(url)
        else:
            problem = chat_url_problem(kind, url)
        if problem:
            self.add_error("url", problem)
        return data
