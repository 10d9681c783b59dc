"""Writes: publishing a customer's consented words on the public wall, and taking them down."""

import re
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from accounts.models import Membership
from accounts.text import is_storable
from actions.models import Action
from actions.services import action_hook, action_wall_change_record
from surveys.models import Response

from . import wallcache
from .models import WallEntry

# "…", "...", "[…]" and "[...]" mark where words were cut; "[redacted]"-style notes are not
# allowed because they add words of their own.
ELLIPSIS = re.compile(r"\[\s*(?:…|\.\.\.)\s*\]|…|\.\.\.")
WORD = re.compile(r"[\w'’]+")
MAX_WHAT_WE_DID = 2000


def _words(text: str) -> list[str]:
    return [word.casefold().replace("’", "'") for word in WORD.findall(ELLIPSIS.sub(" ", text))]


def quote_problem(*, quote: str, original: str) -> str | None:
    """Why ``quote`` is not a fair cut of ``original``, or None when it is.

    A fair cut keeps the customer's words in their order and adds none: every word of the
    quote, ignoring case, punctuation and the cut marks "…", "...", "[…]", is the next unused
    word of the original.
    """
    if not _words(quote):
        return gettext("The quote needs at least some of the customer's words.")
    remaining = iter(_words(original))
    for word in _words(quote):
        if not any(word == candidate for candidate in remaining):
            return gettext(
                "\u201c%(word)s\u201d is not one of the customer's words at that point. You may"
                " shorten the quote or replace parts with \u201c…\u201d or \u201c[…]\u201d, but"
                " never add or reorder words."
            ) % {"word": word[:40]}
    return None


def _text_checked(value: str, *, field: str, max_length: int) -> str:
    """The text stripped, or a ValidationError on ``field`` when it can't be stored or is too
    long. Refused rather than repaired (``text_storable``): what goes on the public wall is
    shown exactly as the member saw it."""
    value = (value or "").strip()
    if not is_storable(value):
        raise ValidationError(
            {field: gettext("This text contains characters that cannot be stored.")}
        )
    if len(value) > max_length:
        raise ValidationError(
            {field: gettext("Keep this under %(n)s characters.") % {"n": max_length}}
        )
    return value


@transaction.atomic
def wall_entry_publish(
    *,
    action: Action,
    response: Response,
    quote: str,
    what_we_did: str,
    member: Membership,
    now: datetime,
) -> WallEntry:
    """Put a customer's words and what the business did on the public wall.

    Refuses (ValidationError) unless the action is done, the response belongs to it and its
    customer consented and has not withdrawn, and the quote only shortens the original. The
    original words and the shown quote go into the action's history.
    """
    if action.org_id != member.org_id or response.org_id != action.org_id:
        raise ValidationError(gettext("This feedback belongs to another business."))
    if action.status != Action.Status.DONE:
        raise ValidationError(gettext("Only an action that is done can go on the wall."))
    if response.pk != action.response_id and not action.links.filter(response=response).exists():
        raise ValidationError(gettext("This response is not part of the action."))
    # Lock the response so a consent withdrawal and a publish cannot interleave.
    response = Response.objects.select_for_update().get(pk=response.pk)
    if not response.may_quote:
        raise ValidationError(gettext("The customer has not agreed to be quoted."))
    original = response.verbatim
    quote = _text_checked(quote, field="quote", max_length=len(original) + 20)
    problem = quote_problem(quote=quote, original=original)
    if problem:
        raise ValidationError({"quote": problem})
    what_we_did = _text_checked(what_we_did, field="what_we_did", max_length=MAX_WHAT_WE_DID)
    if not what_we_did:
        raise ValidationError({"what_we_did": gettext("Say what the business did about it.")})
    interaction = response.invitation.interaction
    touchpoint = interaction.touchpoint
    submitted = (response.submitted_at or response.created_at).astimezone(action.org.tz)
    values = {
        "org_id": action.org_id,
        "action": action,
        "quote": quote,
        "original_quote": original,
        "attribution": response.customer.public_name[:60],
        "touchpoint": touchpoint,
        "touchpoint_name": touchpoint.name,
        "month": submitted.date().replace(day=1),
        "what_we_did": what_we_did,
        "published_at": now,
        "published_by": member,
        "unpublished_at": None,
    }
    entry = WallEntry.objects.select_for_update().filter(response=response).first()
    if entry is not None and entry.unpublished_at is None:
        raise ValidationError(gettext("These words are already on the wall."))
    if entry is None:
        entry = WallEntry.objects.create(response=response, **values)
    else:
        for name, value in values.items():
            setattr(entry, name, value)
        entry.save()
    action_wall_change_record(
        action_id=action.pk,
        published=True,
        actor=member,
        quote=quote,
        data={
            "entry": str(entry.code),
            "original": original,
            "quote": quote,
            "what_we_did": what_we_did,
        },
        now=now,
    )
    wallcache.wall_changed(action.org)
    _wall_hook(entry, "wall.published", now)
    return entry


@transaction.atomic
def wall_entry_unpublish(*, entry: WallEntry, member: Membership, now: datetime) -> WallEntry:
    """Take an entry off the wall. Safe to repeat: a second call changes nothing."""
    if entry.org_id != member.org_id:
        raise ValidationError(gettext("This entry belongs to another business."))
    updated = WallEntry.objects.filter(pk=entry.pk, unpublished_at=None).update(unpublished_at=now)
    if updated:
        entry.unpublished_at = now
        action_wall_change_record(
            action_id=entry.action_id,
            published=False,
            actor=member,
            quote=entry.quote,
            data={"entry": str(entry.code), "original": entry.original_quote, "quote": entry.quote},
            now=now,
        )
        wallcache.wall_changed(entry.org)
        _wall_hook(entry, "wall.unpublished", now)
    return entry


def _wall_hook(entry: WallEntry, type: str, now: datetime) -> None:
    """wall.published / wall.unpublished for webhooks and chat, with the action they came
    from (README, "Webhooks and chat")."""
    wall = {"code": str(entry.code), "quote": entry.quote, "attribution": entry.attribution}
    wall["what_we_did"] = entry.what_we_did
    action_hook(entry.action, type, now=now, entry=wall)
