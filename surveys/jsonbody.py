"""Reading a request's JSON body so that no body, however hostile, becomes a 500.

Python's parser accepts more than JSON: NaN, Infinity, numbers that overflow to infinity and
repeated keys (the last one silently wins). PostgreSQL refuses the first three and a second
parser may read the fourth differently, so they are parsed into markers here and refused by
the validation of the row that holds them (surveys.ingest), keeping a batch's other rows.
"""

import json
import math

from django.conf import settings
from django.http import HttpRequest, RawPostDataException
from django.http.request import RequestDataTooBig
from django.utils.http import parse_header_parameters
from ninja.parser import Parser


class NonFinite:
    """Where the body had NaN, Infinity, -Infinity or a number too big for a float."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self):
        return f"NonFinite({self.text!r})"


class DuplicateKeys(dict):
    """An object that named a key more than once; ``duplicates`` lists those keys."""

    duplicates: list[str]


class BodyError(Exception):
    def __init__(self, status: int, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.status = status
        self.errors = errors


def _object(pairs: list[tuple[str, object]]) -> dict:
    data = dict(pairs)
    if len(data) == len(pairs):
        return data
    seen, duplicates = set(), []
    for key, _ in pairs:
        if key in seen and key not in duplicates:
            duplicates.append(key)
        seen.add(key)
    marked = DuplicateKeys(data)
    marked.duplicates = duplicates
    return marked


def _float(text: str) -> float | NonFinite:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(text)


def json_parse(text: str):
    """Parse JSON text; raise ValueError for anything that isn't JSON or is nested too deep."""
    try:
        return json.loads(
            text, object_pairs_hook=_object, parse_float=_float, parse_constant=NonFinite
        )
    except RecursionError:
        # "[" a hundred thousand times: the C parser gives up cleanly with RecursionError.
        raise ValueError("nested too deep") from None


def _content_type_problem(request: HttpRequest) -> str:
    header = request.META.get("CONTENT_TYPE", "").strip()
    if not header:
        # Some HTTP libraries send no Content-Type with a string body: take it as JSON.
        return ""
    media, params = parse_header_parameters(header)
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        return "Send the body as JSON with Content-Type: application/json."
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        return "JSON is UTF-8: send charset=utf-8 or no charset."
    return ""


def json_body_read(request: HttpRequest, *, max_bytes: int):
    """The request's body parsed as JSON, or BodyError(status, errors) saying what's wrong."""
    problem = _content_type_problem(request)
    if problem:
        raise BodyError(415, {"content_type": [problem]})
    declared = request.META.get("CONTENT_LENGTH") or "0"
    # Django's own request.body would raise ValueError (a 500) on a Content-Length like "abc".
    if not declared.isascii() or not declared.strip().isdigit():
        raise BodyError(400, {"content_length": ["Content-Length must be a whole number."]})
    too_big = BodyError(413, {"body": [f"The body is over {max_bytes} bytes."]})
    if len(declared.strip()) > 18 or int(declared) > max_bytes:
        raise too_big
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_big from None
    except RawPostDataException:  # the stream was already read: nothing we can parse
        raise BodyError(400, {"body": ["The body could not be read."]}) from None
    if len(raw) > max_bytes:
        raise too_big
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError(400, {"body": ["The body is not UTF-8."]}) from None
    if not text.strip():
        raise BodyError(400, {"body": ["The body is empty: send a JSON object."]})
    try:
        return json_parse(text)
    except ValueError:
        raise BodyError(400, {"body": ["The body is not valid JSON."]}) from None


class JsonBodyParser(Parser):
    """django-ninja's body parser for Heard's API: every typed body goes through
    ``json_body_read`` too, so no endpoint parses JSON more leniently than ingest."""

    def parse_body(self, request: HttpRequest):
        return json_body_read(request, max_bytes=settings.HEARD["API_MAX_BODY_BYTES"])
