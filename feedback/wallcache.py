"""The public wall's cache: rendered pages per organisation, checked on every request.

Each rendered page is kept twice: in this process's memory (a warm request touches neither
Redis nor pickle) and in the shared cache (so another worker does not render it again). Each
copy carries the wall's version (``WallState``, changed in the same transaction as every publish
and unpublish), the organisation's fingerprint and the ids of the responses it shows.

A request costs one small query, whatever the size of the wall. It finds the organisation (so
switching the wall off answers 404 at once, and a new name, colour or default language shows at
once), reads the wall's version, and asks whether any response on *this* page has lost its
consent or its entry since the page was rendered. That needs nothing from the lower floors but
the fact they already record: ``Response.consent_withdrawn_at``, written by the actions app's
``/f/<token>/`` page, which cannot import feedback to clear this cache itself. Every page, feed
and embed checks its own quotes, so a withdrawn quote leaves all of them on their next request;
the page that showed it is rendered afresh, while pages that did not show it may keep a stale
count or touchpoint list until they expire.

The figures on the wall (counts of every response and action) may be up to ``TIMEOUT`` seconds
old.

``HEARD["WALL_RECHECK_SECONDS"]`` (0 unless set) trades "at once" for throughput: a worker that
checked a page less than that many seconds ago serves its copy without asking the database. A
withdrawn consent, an unpublished entry or a wall switched off may then stay visible that long
on a page another worker already had (on the worker that unpublished, it goes at once).
"""

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.http import Http404
from django.utils.safestring import mark_safe

from accounts.models import Organisation
from surveys.models import Response

from .models import WallEntry, WallState

TIMEOUT = 300
#: Where a cached page's CSP nonce goes; each request's own nonce replaces it when served. The
#: page is split on it, so customer text must never be able to contain it: it holds "<" and
#: '"', which HTML escaping always changes, and a per-process secret, so it can't be guessed
#: either. Marked safe so that the template prints it as it is (pages are cached already split,
#: so another process never needs this one's placeholder).
NONCE_PLACEHOLDER = mark_safe(f'<heard-nonce-{secrets.token_hex(16)}">')
#: Pages kept in each process's memory; the oldest go first.
LOCAL_PAGES = 256


@dataclass(frozen=True)
class _Page:
    version: str
    fingerprint: tuple
    response_ids: list[int]
    payload: Any
    rendered_at: float  # time.time()


_local: dict[tuple[str, str], _Page] = {}
_checked: dict[tuple[str, str], float] = {}  # when each local page was last checked (_now())
_now = time.monotonic


def forget_local(slug: str | None = None) -> None:
    """Drop this process's copies of one wall's pages, or of all (the shared cache has its own
    ``clear``)."""
    for key in [key for key in _local if slug is None or key[0] == slug]:
        _local.pop(key, None)
        _checked.pop(key, None)


def wall_changed(org) -> None:
    """Every cached page of this wall is stale once the caller's transaction commits."""
    WallState.objects.update_or_create(org=org, defaults={"version": uuid.uuid4().hex})
    transaction.on_commit(lambda: forget_local(org.slug))


def _page_key(slug: str, variant: str) -> str:
    return f"wall-page:{slug}:{variant}"


def _fingerprint(org) -> tuple:
    return (
        org.pk,
        org.code.hex,
        org.name,
        org.brand_colour,
        str(org.logo or ""),
        org.default_language,
    )


_SQL: dict[int | None, str] = {}


def _sql(count: int) -> str:
    """The check for ``count`` response ids. Plain SQL, built once per page size, because this
    runs on every request to every wall and building the same ORM query each time cost more
    than running it. Two scalar subqueries plan in half the time of one join: planning is most
    of this query's cost. PostgreSQL takes the ids as one array, whatever their number.

    Measured with bench/bench_speed_paths.py (a wall page showing 10 quotes, PostgreSQL on
    loopback): 0.19-0.21 ms a check against 1.5-1.6 ms for the plain ORM's four queries;
    tests/feedback/test_wall_equivalence.py checks both give the same answer."""
    array = connection.vendor == "postgresql"
    cache_key = None if array and count else count
    if cache_key not in _SQL:
        match = "= ANY(%s)" if array else f"IN ({', '.join(['%s'] * count)})"
        quotable, live = "0", "0"
        if count:
            quotable = (
                f"(SELECT count(*) FROM {Response._meta.db_table} r WHERE r.id {match}"
                " AND r.consent_to_quote AND r.consent_withdrawn_at IS NULL)"
            )
            live = (
                f"(SELECT count(*) FROM {WallEntry._meta.db_table} w"
                f" WHERE w.response_id {match} AND w.unpublished_at IS NULL)"
            )
        _SQL[cache_key] = (
            f"SELECT o.id, o.code, o.name, o.brand_colour, o.logo, o.default_language,"
            f" (SELECT s.version FROM {WallState._meta.db_table} s WHERE s.org_id = o.id),"
            f" {quotable}, {live} FROM {Organisation._meta.db_table} o"
            " WHERE o.slug = %s AND o.wall_enabled"
        )
    return _SQL[cache_key]


def _check(slug: str, response_ids: list[int]) -> tuple | None:
    """(fingerprint, version, stale) for the organisation with this slug and its wall on, or
    None. ``stale`` is true when any of the responses has lost its consent or its live entry
    since the page was rendered."""
    if not response_ids:
        params = [slug]
    elif connection.vendor == "postgresql":
        params = [list(response_ids), list(response_ids), slug]
    else:
        params = [*response_ids, *response_ids, slug]
    with connection.cursor() as cursor:
        cursor.execute(_sql(len(response_ids)), params)
        row = cursor.fetchone()
    if row is None:
        return None
    # The code comes back as text (with or without dashes, by database) or as a UUID.
    code = uuid.UUID(str(row[1])).hex
    count = len(response_ids)
    stale = row[7] != count or row[8] != count
    return (row[0], code, row[2], row[3], row[4] or "", row[5]), row[6] or "", stale


def _fresh(page: Any, fingerprint, version, now: float) -> bool:
    return (
        isinstance(page, _Page)  # not None, nor what an older release left in the cache
        and page.version == version
        and page.fingerprint == fingerprint
        and now - page.rendered_at < TIMEOUT
    )


def _remember(key: tuple[str, str], page: _Page) -> None:
    _local.pop(key, None)
    while len(_local) >= LOCAL_PAGES:
        _checked.pop(next(iter(_local)), None)
        del _local[next(iter(_local))]
    _local[key] = page
    _checked[key] = _now()


def cached_wall(
    slug: str, variant: str, build: Callable[[Organisation], tuple[Any, list[int]]]
) -> Any:
    """The payload for one page of an organisation's wall, from a cache when still true, else
    from ``build(org)``, which returns (payload, ids of the responses shown).

    Raises Http404 when the organisation has no public wall (and whatever ``build`` raises:
    nothing is cached then).
    """
    key, now = (slug, variant), time.time()
    local = _local.get(key)
    if local is not None and now - local.rendered_at < TIMEOUT:
        recheck = settings.HEARD.get("WALL_RECHECK_SECONDS", 0)
        if recheck and _now() - _checked.get(key, -recheck) < recheck:
            return local.payload
    found = _check(slug, local.response_ids if local is not None else [])
    if found is None:
        raise Http404("This business has no public wall.")
    fingerprint, version, stale = found
    if not stale and _fresh(local, fingerprint, version, now):
        _checked[key] = _now()
        return local.payload
    if local is None:
        # Another worker may have rendered it: its quotes are checked like any other page's.
        shared = cache.get(_page_key(slug, variant))
        if _fresh(shared, fingerprint, version, now):
            again = _check(slug, shared.response_ids)
            if again is not None and again[:2] == (fingerprint, version) and not again[2]:
                _remember(key, shared)
                return shared.payload
    org = Organisation.objects.filter(slug=slug, wall_enabled=True).first()
    if org is None:
        raise Http404("This business has no public wall.")
    payload, response_ids = build(org)
    page = _Page(version, _fingerprint(org), list(response_ids), payload, now)
    cache.set(_page_key(slug, variant), page, TIMEOUT)
    _remember(key, page)
    return payload
