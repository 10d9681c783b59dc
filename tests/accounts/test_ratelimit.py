import pytest
from django.test import RequestFactory

from accounts.ratelimit import client_ip, token_miss_over_limit


def request_from(remote="10.0.0.1", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/f/x/", **extra)


@pytest.fixture
def proxies(settings):
    def set_count(count):
        settings.HEARD = {**settings.HEARD, "TRUSTED_PROXY_COUNT": count}

    return set_count


def test_it_ignores_x_forwarded_for_without_trusted_proxies(proxies):
    proxies(0)
    assert client_ip(request_from(forwarded="203.0.113.9")) == "10.0.0.1"


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the left one is the client's claim
        (2, "198.51.100.1, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (1, " 2001:db8::1 ", "2001:db8::1"),
        (2, "203.0.113.9", "10.0.0.1"),  # fewer hops than proxies: did not come through them
        (1, "", "10.0.0.1"),
        (1, "not-an-address", "10.0.0.1"),
        (1, "203.0.113.9, ", "10.0.0.1"),
    ],
)
def test_it_counts_trusted_proxies_from_the_right(proxies, count, forwarded, expected):
    proxies(count)
    assert client_ip(request_from(forwarded=forwarded)) == expected


def test_it_uses_the_socket_address_when_the_header_is_missing(proxies):
    proxies(1)
    assert client_ip(request_from()) == "10.0.0.1"


def test_behind_the_proxy_each_visitor_has_their_own_limit(proxies, settings):
    proxies(1)
    settings.HEARD = {**settings.HEARD, "TOKEN_GUESS_LIMIT_PER_MINUTE": 2}
    for _ in range(3):
        over, _ = token_miss_over_limit(request_from(forwarded="203.0.113.9"))
    assert over
    assert not token_miss_over_limit(request_from(forwarded="203.0.113.10"))[0]
