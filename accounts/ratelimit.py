"""Small fixed-window counters in the shared cache, for things strangers can try repeatedly."""

import ipaddress
import time

from django.conf import settings
from django.core.cache import cache


def client_ip(request) -> str:
    """The visitor's address. Behind ``HEARD["TRUSTED_PROXY_COUNT"]`` proxies that each append
    to X-Forwarded-For, it is that many entries from the right: anything further left was
    written by the client and may be made up. With no proxies the header is ignored."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.HEARD.get("TRUSTED_PROXY_COUNT", 0)
    if proxies <= 0:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < proxies or not forwarded[-proxies]:
        return remote  # not through the proxies (or a mangled header): the socket's address
    try:
        return str(ipaddress.ip_address(forwarded[-proxies]))
    except ValueError:
        return remote


def client_network(request) -> str:
    """``client_ip``, with an IPv6 address cut to its /64: one home or server is usually given
    a whole /64, so counting single IPv6 addresses would let it try 2**64 times."""
    ip = client_ip(request)
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return ip


def token_miss_over_limit(request) -> tuple[bool, int]:
    """Count one wrong customer link from this address; return (over the limit, retry after
    seconds). Misses are counted per address and minute, across every token page, so tokens
    can't be found by trying."""
    limit = settings.HEARD["TOKEN_GUESS_LIMIT_PER_MINUTE"]
    now = time.time()
    key = f"token-miss:{client_ip(request)}:{int(now // 60)}"
    try:
        misses = 1 if cache.add(key, 1, timeout=70) else cache.incr(key)
    except Exception:  # a cache outage must not turn a miss into a 500
        return False, 0
    return misses > limit, max(1, int(60 - now % 60))
