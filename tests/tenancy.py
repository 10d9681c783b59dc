"""The tenancy test pattern: a member of one business must get 404 for every URL that names
another business's object. Later issues add their URL builders and call this helper."""

from collections.abc import Callable, Iterable


def assert_404_for_outsider(client, urls: Iterable[str | Callable[[], str]], method: str = "get"):
    """Request each URL (a string, or a callable returning one) with ``client`` and assert 404.

    ``method`` is "get" or "post". Collects every failure before asserting, so one run names
    all the leaking URLs at once.
    """
    leaks = []
    for url in urls:
        url = url() if callable(url) else url
        response = getattr(client, method)(url)
        if response.status_code != 404:
            leaks.append(f"{method.upper()} {url} answered {response.status_code}")
    assert not leaks, "Another business's objects are reachable:\n" + "\n".join(leaks)
