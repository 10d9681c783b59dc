"""Small fixed-window counters in the shared cache, for things strangers can try repeatedly."""

import time

from django.conf import settings
from django.core.cache import cache


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


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
