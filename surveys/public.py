"""The touchpoint's public doors: the link /t/<code>/ (printed as a QR code, embedded on the
business's website, opened on a tablet by the door) and what keeps strangers from abusing it.

Anyone may answer without a login or an invitation, so a post is checked before it is
stored: per-address and per-touchpoint rate limits (a 429, nothing stored: the sender is told),
then a honeypot field and a signed "page opened at" stamp (a post that fails these is stored
but held for an owner's review, never dropped). The daily cap is in ``services``.
"""

import io
import time
from datetime import datetime

import segno
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.urls import reverse
from django.utils.html import escape

from accounts.ratelimit import client_network

from .models import Response, Touchpoint

#: Posts one address may make to public links in a window: a shop's kiosk and its customers
#: on the shop's Wi-Fi share one address, so it allows a steady queue, not a script.
ADDRESS_LIMIT, ADDRESS_WINDOW = 30, 600
#: Posts one touchpoint takes in a window from everyone: beyond it a flood is refused, not
#: stored (the daily cap holds what gets through).
TOUCHPOINT_LIMIT, TOUCHPOINT_WINDOW = 300, 600
#: A person reads the page before sending it; a script posts at once.
MIN_SECONDS_ON_PAGE = 3
#: A form stamped longer ago than this is treated as replayed.
MAX_FORM_AGE = 24 * 60 * 60
#: The honeypot: a field people never see (hidden by the stylesheet, out of the tab order).
HONEYPOT = "hp_reference"
_STAMP_SALT = "surveys.public.form-stamp"

CHANNELS = {value for value in Response.Channel.values if value != Response.Channel.EMAIL}


def channel_of(request, kiosk: bool) -> str:
    """Which door the answer came through: ``?via=qr`` etc. on the printed and embedded links;
    a bare link is "link". The kiosk is always the kiosk."""
    if kiosk:
        return Response.Channel.KIOSK
    via = request.GET.get("via", "")
    return via if via in CHANNELS else Response.Channel.LINK


def _counted(key: str, window: int, now: float) -> int:
    slot = int(now // window)
    full = f"{key}:{slot}"
    try:
        return 1 if cache.add(full, 1, timeout=window + 10) else cache.incr(full)
    except Exception:  # a cache outage must not turn a customer's answer into a 500
        return 0


def post_over_limit(request, touchpoint: Touchpoint) -> int:
    """Count one public post; return seconds to wait when it is over a limit, else 0."""
    now = time.time()
    if _counted(f"public-post:{client_network(request)}", ADDRESS_WINDOW, now) > ADDRESS_LIMIT:
        return max(1, int(ADDRESS_WINDOW - now % ADDRESS_WINDOW))
    if _counted(f"public-tp:{touchpoint.pk}", TOUCHPOINT_WINDOW, now) > TOUCHPOINT_LIMIT:
        return max(1, int(TOUCHPOINT_WINDOW - now % TOUCHPOINT_WINDOW))
    return 0


def form_stamp(*, touchpoint: Touchpoint, now: datetime) -> str:
    """The signed "this page was opened at" value the form carries."""
    return signing.dumps([touchpoint.public_code, int(now.timestamp())], salt=_STAMP_SALT)


def held_reason_for(data, *, touchpoint: Touchpoint, now: datetime) -> str:
    """Why a post looks automated (a ``Response.Held`` value), or "" when it looks human."""
    if data.get(HONEYPOT, ""):
        return Response.Held.HONEYPOT
    try:
        code, opened = signing.loads(data.get("stamp", ""), salt=_STAMP_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return Response.Held.STALE_FORM
    age = now.timestamp() - opened
    if code != touchpoint.public_code or age > MAX_FORM_AGE:
        return Response.Held.STALE_FORM
    if age < MIN_SECONDS_ON_PAGE:
        return Response.Held.TOO_FAST
    return ""


# --- What owners print and paste -------------------------------------------------------------


def public_url(touchpoint: Touchpoint, via: str = "") -> str:
    url = settings.SITE_URL + reverse("surveys:public", args=[touchpoint.public_code])
    return f"{url}?via={via}" if via else url


def kiosk_url(touchpoint: Touchpoint) -> str:
    return public_url(touchpoint) + "?kiosk=1"


def qr_code(touchpoint: Touchpoint):
    # Error correction "M" survives a smudged or partly covered poster; segno may raise it
    # further when the link fits anyway.
    return segno.make(public_url(touchpoint, "qr"), error="m", micro=False)


def qr_svg(touchpoint: Touchpoint, *, scale: int = 10, dark: str = "#000") -> bytes:
    out = io.BytesIO()
    qr_code(touchpoint).save(out, kind="svg", scale=scale, border=4, dark=dark, xmldecl=False)
    return out.getvalue()


def qr_png(touchpoint: Touchpoint, *, scale: int = 12) -> bytes:
    out = io.BytesIO()
    qr_code(touchpoint).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def embed_script_url() -> str:
    """The embed script's address without the static files' content hash: pasted into other
    sites, it must never change, so its version is in its name (embed-v1.js) instead."""
    return f"{settings.SITE_URL}{settings.STATIC_URL}surveys/embed-v1.js"


def website_snippet(touchpoint: Touchpoint) -> str:
    return (
        f'<script async src="{escape(embed_script_url())}" '
        f'data-heard-survey="{escape(public_url(touchpoint, "website"))}" '
        'data-heard-label="Tell us how we did"></script>'
    )


def iframe_snippet(touchpoint: Touchpoint) -> str:
    return (
        f'<iframe src="{escape(public_url(touchpoint, "website"))}" '
        f'title="Tell {escape(touchpoint.org.name)} how we did" width="100%" height="720" '
        'loading="lazy"></iframe>'
    )
