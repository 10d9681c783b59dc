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
from django.db import connection
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


def _fingerprint(org) -> tuple:
    return (org.pk, org.name, org.brand_colour, str(org.logo or ""))


def _check(slug: str, response_ids: list[int]) -> tuple | None:
    """(fingerprint, stale) for the organisation with this slug and its wall on, or None.

    Plain SQL, because this runs on every request to every wall and building the same ORM
    query each time cost more than running it. ``stale`` is true when any of the responses
    has lost its consent or its live entry since the page was rendered.
    """
    org_table = Organisation._meta.db_table
    response_table = Response._meta.db_table
    entry_table = Response._meta.get_field("wall_entry").related_model._meta.db_table
    stale = "FALSE"
    params: list = []
    if response_ids:
        marks = ", ".join(["%s"] * len(response_ids))
        stale = (
            f"EXISTS (SELECT 1 FROM {response_table} r LEFT JOIN {entry_table} w"
            f" ON w.response_id = r.id WHERE r.id IN ({marks}) AND (NOT r.consent_to_quote"
            " OR r.consent_withdrawn_at IS NOT NULL OR w.id IS NULL"
            " OR w.unpublished_at IS NOT NULL))"
        )
        params.extend(response_ids)
    sql = (
        f"SELECT o.id, o.name, o.brand_colour, o.logo, {stale} FROM {org_table} o"
        " WHERE o.slug = %s AND o.wall_enabled"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, slug])
        row = cursor.fetchone()
    if row is None:
        return None
    return (row[0], row[1], row[2], row[3] or ""), bool(row[4])


def cached_wall(
    slug: str, variant: str, build: Callable[[Organisation], tuple[Any, list[int]]]
) -> Any:
    """The payload for one page of an organisation's wall, from the cache when still true,
    else from ``build(org)``, which returns (payload, ids of the responses shown).

    Raises Http404 when the organisation has no public wall (and whatever ``build`` raises:
    nothing is cached then).
    """
    version_key, page_key = _version_key(slug), _page_key(slug, variant)
    found = cache.get_many([version_key, page_key])
    version, hit = found.get(version_key), found.get(page_key)
    usable = hit is not None and version is not None and hit["version"] == version
    found = _check(slug, hit["response_ids"] if usable else [])
    if found is None:
        raise Http404("This business has no public wall.")
    fingerprint, stale = found
    if usable and not stale and hit["fingerprint"] == fingerprint:
        return hit["payload"]
    if version is None or stale:
        version = uuid.uuid4().hex
        cache.set(version_key, version, None)
    org = Organisation.objects.filter(slug=slug, wall_enabled=True).first()
    if org is None:
        raise Http404("This business has no public wall.")
    payload, response_ids = build(org)
    cache.set(
        page_key,
        {"version": version, "fingerprint": _fingerprint(org), "response_ids": response_ids,
         "payload": payload},
        TIMEOUT,
    )  # fmt: skip
    return payload
