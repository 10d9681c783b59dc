"""The public wall's cache: rendered pages per organisation, checked on every request.

Each cached page carries the organisation's wall version and the ids of the responses it
shows. A request costs one cache round trip and one small query, which finds the organisation
(so switching the wall off answers 404 at once, and a new name or colour shows at once) and
asks whether any response on this page has lost its consent or its entry since the page was
rendered. That check reads at most a page of primary keys, so it costs the same for ten
entries or ten thousand, and it needs nothing from the lower floors but the fact they already
record: ``Response.consent_withdrawn_at``, written by the actions app's ``/f/<token>/`` page,
which cannot import feedback to clear this cache itself. When the check finds such a response
the organisation's version changes, so every page of its wall is rendered afresh.

Publishing and unpublishing change the version too (``wall_changed``). The figures on the
wall (counts of every response and action) may be up to ``TIMEOUT`` seconds old.
"""

import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db.models import Exists, Q, Value
from django.http import Http404

from accounts.models import Organisation
from surveys.models import Response

TIMEOUT = 300
NONCE_PLACEHOLDER = "heard-csp-nonce-placeholder"


def _version_key(slug: str) -> str:
    return f"wall:{slug}:version"


def _page_key(slug: str, variant: str) -> str:
    return f"wall:{slug}:{variant}"


def wall_changed(slug: str) -> None:
    """Every cached page of this wall is stale from now on."""
    cache.set(_version_key(slug), uuid.uuid4().hex, None)


def _fingerprint(org: Organisation) -> tuple:
    return (org.pk, org.name, org.brand_colour, str(org.logo or ""))


def _org_with_check(slug: str, response_ids: list[int]) -> Organisation | None:
    if response_ids:
        gone = Response.objects.filter(pk__in=response_ids).filter(
            Q(consent_to_quote=False)
            | Q(consent_withdrawn_at__isnull=False)
            | Q(wall_entry__unpublished_at__isnull=False)
        )
        stale = Exists(gone)
    else:
        stale = Value(False)
    return Organisation.objects.filter(slug=slug, wall_enabled=True).annotate(stale=stale).first()


def cached_wall(
    slug: str, variant: str, build: Callable[[Organisation], tuple[Any, list[int]]]
) -> tuple[Organisation, Any]:
    """The organisation and the payload for one page of its wall, from the cache when still
    true, else from ``build(org)``, which returns (payload, ids of the responses shown).

    Raises Http404 when the organisation has no public wall (and whatever ``build`` raises:
    nothing is cached then).
    """
    version_key, page_key = _version_key(slug), _page_key(slug, variant)
    found = cache.get_many([version_key, page_key])
    version, hit = found.get(version_key), found.get(page_key)
    usable = hit is not None and version is not None and hit["version"] == version
    org = _org_with_check(slug, hit["response_ids"] if usable else [])
    if org is None:
        raise Http404("This business has no public wall.")
    if usable and not org.stale and hit["fingerprint"] == _fingerprint(org):
        return org, hit["payload"]
    if version is None or org.stale:
        version = uuid.uuid4().hex
        cache.set(version_key, version, None)
    payload, response_ids = build(org)
    cache.set(
        page_key,
        {"version": version, "fingerprint": _fingerprint(org), "response_ids": response_ids,
         "payload": payload},
        TIMEOUT,
    )  # fmt: skip
    return org, payload
