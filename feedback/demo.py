"""The demo business's wall: a handful of entries from done, consented demo actions.

Idempotent: a response that already has an entry (live or taken down) is left alone, so a
second run publishes nothing new and respects an entry someone unpublished."""

from django.utils import timezone

from . import queries
from .models import WallEntry
from .services import wall_entry_publish

DEMO_ENTRIES = 5


def seed(people, touchpoints) -> None:
    org = people.org
    have = WallEntry.objects.filter(org=org).count()
    if have >= DEMO_ENTRIES:
        return
    taken = set(WallEntry.objects.filter(org=org).values_list("response_id", flat=True))
    now = timezone.now()
    for action, response in queries.publishable(org):
        if have >= DEMO_ENTRIES:
            break
        if response.pk in taken:
            continue
        wall_entry_publish(
            action=action,
            response=response,
            quote=_first_sentences(response.verbatim),
            what_we_did=action.resolution or "We sorted it out and told the customer.",
            member=people.owner,
            now=now,
        )
        have += 1


def _first_sentences(text: str, limit: int = 220) -> str:
    """The customer's words, cut at a sentence end (marked "…") when they run long."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = max(text.rfind(". ", 0, limit), text.rfind("! ", 0, limit), text.rfind("? ", 0, limit))
    return (text[: cut + 1] if cut > 0 else text[:limit].rsplit(" ", 1)[0]) + " …"
