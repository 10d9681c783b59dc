"""Turning outside data (API JSON, CSV rows, the send-now form) into checked interaction input.

Every check returns a message per field and an HTTP-ish status: 400 for the wrong shape or
type, 404 for an unknown touchpoint, 422 for a value that has the right type but can't be used
(a malformed email, an unparseable date, a staff email that isn't a member).

Two exceptions are 400 although they are about values, because they make the row unusable as
JSON: a number JSON can't carry (NaN, Infinity, 1e999), a key given twice, and an occurred_at
outside EARLIEST_OCCURRED_AT .. now + MAX_FUTURE.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property

from accounts.models import Membership
from accounts.text import is_storable

from .jsonbody import DuplicateKeys, NonFinite
from .languages import is_language_tag
from .models import Touchpoint

MAX_METADATA_BYTES = 4000
MAX_METADATA_DEPTH = 8
MAX_REFERENCE = 200
MAX_WHEN = 64
# Older or later dates are mistakes (or attacks): year 1 or 9999 overflowed the due-date
# arithmetic and broke every later invitation sweep. A day ahead allows for clock skew.
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)
OCCURRED_AT_WINDOW = (
    "Must be from 2000-01-01T00:00:00Z to at most one day from now (checked in UTC)."
)
LOCALE_SHAPE = "Must be a BCP 47 language tag, like fr, de-AT or pt-BR."
NON_FINITE = "Numbers must be finite: no NaN, Infinity or numbers too big for a float."
UNSTORABLE = "Contains characters that can't be stored (a NUL byte or a broken character)."


@dataclass
class InteractionInput:
    email: str
    touchpoint: Touchpoint
    name: str = ""
    locale: str = ""
    staff: Membership | None = None
    occurred_at: datetime | None = None
    reference: str | None = None
    metadata: dict = field(default_factory=dict)


# The name tests/surveys import the one check by (accounts.text.is_storable).
storable = is_storable


class InputError(Exception):
    def __init__(self, status: int, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.status = status
        self.errors = errors


class Lookups:
    """The organisation's touchpoints and members, loaded once per request or upload."""

    def __init__(self, org, *, now: datetime | None = None):
        self.org = org
        self.now = now or timezone.now()

    @cached_property
    def touchpoints(self) -> dict[str, Touchpoint]:
        return {t.slug: t for t in Touchpoint.objects.filter(org=self.org)}

    @cached_property
    def staff(self) -> dict[str, Membership]:
        # Loaded only when a row names its staff member: most API calls don't.
        return {
            m.user.email.lower(): m
            for m in Membership.objects.filter(org=self.org).select_related("user")
        }


def _text(data: dict, name: str, errors: dict, values: dict, *, max_length: int, required=False):
    value = data.get(name)
    if value is None or value == "":
        if required:
            errors.setdefault(name, []).append("This field is required.")
        return ""
    if not isinstance(value, str):
        errors.setdefault(name, []).append("Must be a string.")
        return ""
    if len(value) > max_length:
        values.setdefault(name, []).append(f"At most {max_length} characters.")
    elif not is_storable(value):
        values.setdefault(name, []).append(UNSTORABLE)
    return value


def parse_when(value: str) -> datetime | None:
    """An ISO 8601 date-time (naive ones are taken as UTC), or None when it isn't one."""
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _show(text: str) -> str:
    """A key or slug quoted for an error message, cut short: it's echoed to whoever sent it."""
    return repr(text) if len(text) <= 60 else f"{text[:60]!r}…"


def _json_problem(value) -> str:
    """Why a parsed JSON value can't be used as such (NaN, repeated keys), or ""."""
    stack = [value]
    while stack:  # a loop, not recursion: depth is whatever the sender chose
        item = stack.pop()
        if isinstance(item, NonFinite):
            return NON_FINITE
        if isinstance(item, DuplicateKeys):
            return f"The key {_show(item.duplicates[0])} is given more than once."
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return ""


def _metadata_problem(metadata: dict) -> str:
    """Why metadata can't be stored in a jsonb column, or ""."""
    stack = [(metadata, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not is_storable(item):
                return UNSTORABLE
        elif isinstance(item, dict | list):
            if depth > MAX_METADATA_DEPTH:
                return f"Keep metadata shallow: at most {MAX_METADATA_DEPTH} levels deep."
            if isinstance(item, dict):
                if not all(is_storable(key) for key in item):
                    return UNSTORABLE
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
    return ""


def json_problems(data: dict) -> dict[str, list[str]]:
    """Non-finite numbers and repeated keys anywhere in the row, named by the field holding them."""
    problems = {}
    if isinstance(data, DuplicateKeys):
        for key in data.duplicates:
            problems[key] = ["Given more than once."]
    customer = data.get("customer")
    for name, value in data.items():
        if name == "customer" and isinstance(customer, dict):
            if isinstance(customer, DuplicateKeys):
                for key in customer.duplicates:
                    problems[f"customer.{key}"] = ["Given more than once."]
            for key, inner in customer.items():
                if problem := _json_problem(inner):
                    problems[f"customer.{key}"] = [problem]
        elif name not in problems and (problem := _json_problem(value)):
            problems[name] = [problem]
    return problems


def parse_interaction(data, lookups: Lookups) -> InteractionInput:
    """Check one interaction's JSON; raise InputError(status, errors) when it can't be used."""
    if not isinstance(data, dict):
        raise InputError(400, {"body": ["Send a JSON object."]})
    problems = json_problems(data)
    if problems:
        raise InputError(400, problems)
    shape: dict[str, list[str]] = {}
    values: dict[str, list[str]] = {}
    customer = data.get("customer")
    if customer is None:
        shape["customer"] = ["This field is required."]
        customer = {}
    elif not isinstance(customer, dict):
        shape["customer"] = ["Must be an object with an email."]
        customer = {}
    email = _text(
        customer, "email", shape, values, max_length=254, required="customer" not in shape
    )
    name = _text(customer, "name", shape, values, max_length=150)
    locale = _text(customer, "locale", shape, values, max_length=20)
    if locale and "locale" not in values and not is_language_tag(locale):
        # Stored and used for every later email and page: nonsense is refused, not guessed at.
        shape["customer.locale"] = [LOCALE_SHAPE]
    slug = data.get("touchpoint")
    if slug is None or slug == "":
        shape["touchpoint"] = ["This field is required."]
    elif not isinstance(slug, str):
        shape["touchpoint"] = ["Must be a string: the touchpoint's slug."]
    staff_email = _text(data, "staff", shape, values, max_length=254)
    when = data.get("occurred_at")
    occurred_at = None
    if when is not None and not isinstance(when, str):
        shape["occurred_at"] = ["Must be an ISO 8601 date-time string."]
    elif when:
        occurred_at = parse_when(when) if len(when) <= MAX_WHEN else None
        if occurred_at is None:
            values["occurred_at"] = ["Not an ISO 8601 date-time, like 2026-05-01T14:30:00Z."]
        elif not EARLIEST_OCCURRED_AT <= occurred_at <= lookups.now + MAX_FUTURE:
            # Compared before any arithmetic: adding the delay to year 9999 overflows.
            shape["occurred_at"] = [OCCURRED_AT_WINDOW]
    reference = data.get("reference")
    if isinstance(reference, int) and not isinstance(reference, bool):
        reference = str(reference)
    if reference is not None and not isinstance(reference, str):
        shape["reference"] = ["Must be a string."]
    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        shape["metadata"] = ["Must be an object."]
    if shape:
        raise InputError(400, shape)

    if email and not values.get("email"):
        email = email.strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            values.setdefault("customer.email", []).append("Enter a valid email address.")
    if values.get("email"):
        values["customer.email"] = values.pop("email")
    touchpoint = lookups.touchpoints.get(slug)
    staff = None
    if staff_email:
        staff = lookups.staff.get(staff_email.strip().lower())
        if staff is None:
            values["staff"] = ["No member of this business has that email address."]
    if reference is not None:
        reference = reference.strip() or None
        if reference and (len(reference) > MAX_REFERENCE or not is_storable(reference)):
            values["reference"] = [f"At most {MAX_REFERENCE} storable characters."]
    if metadata:
        # Checked for depth first: json.dumps recurses, and PostgreSQL refuses NUL and lone
        # surrogates in jsonb.
        problem = _metadata_problem(metadata)
        if problem:
            values["metadata"] = [problem]
        elif len(json.dumps(metadata)) > MAX_METADATA_BYTES:
            values["metadata"] = [f"Keep metadata small: at most {MAX_METADATA_BYTES} bytes."]
    if touchpoint is None:
        raise InputError(404, {"touchpoint": [f"This business has no touchpoint {_show(slug)}."]})
    if not touchpoint.active:
        # Switched off means "don't survey these": the same as an unknown touchpoint.
        raise InputError(
            404,
            {
                "touchpoint": [
                    f"The touchpoint {_show(slug)} is switched off: switch it on to survey."
                ]
            },
        )
    if values:
        raise InputError(422, values)
    return InteractionInput(
        email=email,
        name=name.strip(),
        # A tag Heard doesn't ship ("pt-BR") is kept: the business's default is used until
        # Heard speaks it (Organisation.language_for).
        locale=locale.strip().replace("_", "-"),
        touchpoint=touchpoint,
        staff=staff,
        occurred_at=occurred_at,
        reference=reference,
        metadata=metadata,
    )
