"""Turning outside data (API JSON, CSV rows, the send-now form) into checked interaction input.

Every check returns a message per field and an HTTP-ish status: 400 for the wrong shape or
type, 404 for an unknown touchpoint, 422 for a value that has the right type but can't be used
(a malformed email, an unparseable date, a staff email that isn't a member).
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_datetime

from accounts.models import Membership

from .models import Touchpoint

MAX_METADATA_BYTES = 4000
MAX_REFERENCE = 200
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


class InputError(Exception):
    def __init__(self, status: int, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.status = status
        self.errors = errors


def storable(text: str) -> bool:
    """True when the text can be stored in any database: no NUL, no lone surrogates."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Lookups:
    """The organisation's touchpoints and members, loaded once per request or upload."""

    def __init__(self, org):
        self.org = org
        self.touchpoints = {t.slug: t for t in Touchpoint.objects.filter(org=org)}
        self.staff = {
            m.user.email.lower(): m
            for m in Membership.objects.filter(org=org).select_related("user")
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
    elif not storable(value):
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


def parse_interaction(data, lookups: Lookups) -> InteractionInput:
    """Check one interaction's JSON; raise InputError(status, errors) when it can't be used."""
    if not isinstance(data, dict):
        raise InputError(400, {"body": ["Send a JSON object."]})
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
    slug = data.get("touchpoint")
    if slug is None or slug == "":
        shape["touchpoint"] = ["This field is required."]
    elif not isinstance(slug, str):
        shape["touchpoint"] = ["Must be a string: the touchpoint's slug."]
    staff_email = _text(data, "staff", shape, values, max_length=254)
    when = data.get("occurred_at")
    if when is not None and not isinstance(when, str):
        shape["occurred_at"] = ["Must be an ISO 8601 date-time string."]
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
    occurred_at = None
    if when:
        occurred_at = parse_when(when)
        if occurred_at is None:
            values["occurred_at"] = ["Not an ISO 8601 date-time, like 2026-05-01T14:30:00Z."]
    staff = None
    if staff_email:
        staff = lookups.staff.get(staff_email.strip().lower())
        if staff is None:
            values["staff"] = ["No member of this business has that email address."]
    if reference is not None:
        reference = reference.strip() or None
        if reference and (len(reference) > MAX_REFERENCE or not storable(reference)):
            values["reference"] = [f"At most {MAX_REFERENCE} storable characters."]
    if metadata:
        try:
            encoded = json.dumps(metadata)
        except (TypeError, ValueError):
            encoded = ""
            values["metadata"] = ["Must be plain JSON."]
        if len(encoded) > MAX_METADATA_BYTES or "\\u0000" in encoded:
            values["metadata"] = [f"Keep metadata small: at most {MAX_METADATA_BYTES} bytes."]
    if touchpoint is None:
        raise InputError(404, {"touchpoint": [f"This business has no touchpoint {slug!r}."]})
    if not touchpoint.active:
        # Switched off means "don't survey these": the same as an unknown touchpoint.
        raise InputError(
            404,
            {"touchpoint": [f"The touchpoint {slug!r} is switched off: switch it on to survey."]},
        )
    if values:
        raise InputError(422, values)
    return InteractionInput(
        email=email,
        name=name.strip(),
        locale=locale.strip(),
        touchpoint=touchpoint,
        staff=staff,
        occurred_at=occurred_at,
        reference=reference,
        metadata=metadata,
    )
