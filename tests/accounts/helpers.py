"""Posting text a browser could never encode (a lone surrogate) the way a hostile client would."""

from urllib.parse import urlencode


def post_raw(client, url: str, data: dict, **extra):
    """POST ``data`` form-encoded as UTF-8 with surrogates passed through as bytes.

    Django's test client refuses to encode a lone surrogate; a hostile client just sends the
    bytes, which Django decodes with replacement characters. Either way the page must not 500.
    """
    body = urlencode(data, doseq=True, encoding="utf-8", errors="surrogatepass")
    return client.post(url, body, content_type="application/x-www-form-urlencoded", **extra)


def as_received(value: str) -> str:
    """What the server gets for ``value`` sent by ``post_raw``: a lone surrogate arrives as
    replacement characters, and Django trims the ends of text fields."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace").strip()
