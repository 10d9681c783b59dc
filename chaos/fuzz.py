"""Hostile bodies for every API endpoint: the shared hostile inputs, plus generated ones
(random JSON shapes, NaN/Infinity/1e999, lone surrogates, deep nesting, dates in year 1 and
9999, huge strings, wrong types, bad UTF-8, wrong content types). Deterministic (seeded)."""

import http.client
import json
import random
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "data" / "hostile-inputs.json"
JSON = "application/json"
TEXT_CATEGORIES = (
    "markup",
    "spreadsheet_formulas",
    "header_injection",
    "emails_malformed",
    "unicode",
    "sql_and_paths",
    "tokens",
)


@dataclass
class Body:
    label: str
    data: bytes
    content_type: str | None = JSON
    authorization: str | None = None  # None: the rig's valid token


def _dump(value) -> bytes:
    # ensure_ascii keeps lone surrogates as \udXXX escapes: valid JSON text, hostile content.
    return json.dumps(value).encode()


def _item(n: int, touchpoint: str, staff: str) -> dict:
    return {
        "customer": {"email": f"fuzz-{n}@f.chaos.example", "name": "Fuzz Tester"},
        "touchpoint": touchpoint,
        "staff": staff,
        "reference": f"fuzz-{n}",
        "occurred_at": "2026-05-01T10:00:00Z",
        "metadata": {"till": "4"},
    }


# Field paths a value can be put at: (label, setter on a fresh item).
def _set(path: tuple[str, ...]):
    def setter(item: dict, value):
        target = item
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = value
        return item

    return setter


FIELDS = {
    "customer.email": _set(("customer", "email")),
    "customer.name": _set(("customer", "name")),
    "customer.locale": _set(("customer", "locale")),
    "customer": _set(("customer",)),
    "touchpoint": _set(("touchpoint",)),
    "staff": _set(("staff",)),
    "reference": _set(("reference",)),
    "occurred_at": _set(("occurred_at",)),
    "metadata": _set(("metadata",)),
    "metadata.value": _set(("metadata", "note")),
}

# Raw JSON fragments json.dumps cannot write (or writes differently): put in as text.
RAW_VALUES = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1" * 5000,
    "1e-999",
    '"\\ud800"',
    '"\\udfff"',
    '"\\ud800\\u0000"',
    '"abc\\udc00def"',
    '"\\u0000"',
    "[" * 50 + "]" * 50,
    '{"a": NaN}',
    '{"a": 1e999}',
    '{"\\ud800": 1}',
    "true",
    "null",
    "-0",
    "[]",
]

DATES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-12:00",
    "0001-01-01",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59:59+14:00",
    "9999-12-31T22:00:00Z",
    "10000-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-05-01T10:00:00+99:99",
    "2026-05-01T10:00:00+23:59",
    "2026-05-01T24:00:00Z",
    "2026-05-01T10:00:00.9999999999Z",
    "2026-05-01 10:00",
    "1970-01-01T00:00:00Z",
    "2038-01-19T03:14:08Z",
    " ",
    "\x00",
]


def _random_json(rng: random.Random, depth: int = 0):
    choice = rng.randrange(10 if depth < 4 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 2**63, -(2**64), 10**400, 3.5, 1e308])
    if choice == 3:
        return "".join(
            chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x2FFFF)]))
            for _ in range(rng.randrange(0, 40))
        )
    if choice == 4:
        return rng.choice(["", " ", "\x00", "\ud800", "a" * 300, "pat@example.com", "repair"])
    if choice == 5:
        return rng.choice(DATES)
    if choice in (6, 7):
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    keys = [
        "customer",
        "email",
        "name",
        "touchpoint",
        "staff",
        "reference",
        "occurred_at",
        "metadata",
        "interactions",
        "locale",
        "",
        "\ud800",
        "__proto__",
    ]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(0, 6))}


def bodies(touchpoints: list[str], staff: str, *, seed: int = 4711) -> list[Body]:
    """At least 500 single-interaction bodies (each is also sent wrapped in a batch)."""
    rng = random.Random(seed)
    hostile = json.loads(HOSTILE.read_text())
    out: list[Body] = []
    n = 0

    def item(**overrides):
        nonlocal n
        n += 1
        return _item(n, rng.choice(touchpoints), staff)

    # 1. The shared hostile bodies, as they are.
    for i, payload in enumerate(hostile["api_payloads_bad"]):
        out.append(Body(f"hostile.api_payloads_bad[{i}]", _dump(payload)))
    # 2. Every hostile string in every field.
    strings = [s for cat in TEXT_CATEGORIES for s in hostile[cat]]
    for field, setter in FIELDS.items():
        for i, value in enumerate(strings):
            out.append(Body(f"hostile string {i} in {field}", _dump(setter(item(), value))))
    # 3. Raw fragments json.dumps won't write, in every field.
    for field in FIELDS:
        for raw in RAW_VALUES:
            marker = "__RAW__"
            text = json.dumps(FIELDS[field](item(), marker)).replace(f'"{marker}"', raw)
            out.append(Body(f"raw {raw[:20]!r} in {field}", text.encode()))
    # 4. Dates at the ends of the calendar, on every touchpoint (their delays differ).
    for date in DATES:
        for touchpoint in touchpoints:
            body = item()
            body["touchpoint"] = touchpoint
            body["occurred_at"] = date
            out.append(Body(f"occurred_at {date!r} on {touchpoint}", _dump(body)))
    # 5. Deep nesting and huge values.
    for depth in (100, 1000, 5000, 100_000):
        out.append(Body(f"'[' * {depth}", b"[" * depth))
        out.append(Body(f"balanced [] depth {depth}", b"[" * depth + b"]" * depth))
        out.append(Body(f"'{{\"a\":' * {depth}", b'{"a":' * depth))
        nested = json.dumps(item()).replace('{"till": "4"}', "[" * depth + "]" * depth, 1)
        out.append(Body(f"metadata nested {depth}", nested.encode()))
        nested = json.dumps(item()).replace('"Fuzz Tester"', "[" * depth + "]" * depth, 1)
        out.append(Body(f"customer.name nested {depth}", nested.encode()))
    for size in (10_000, 500_000, 999_000, 1_100_000):
        for field in ("customer.name", "reference", "metadata.value", "touchpoint"):
            out.append(Body(f"{field} of {size} chars", _dump(FIELDS[field](item(), "x" * size))))
    out.append(
        Body(
            "metadata of 3,000 keys",
            _dump(FIELDS["metadata"](item(), {str(k): k for k in range(3000)})),
        )
    )
    # 6. Wrong types everywhere.
    for field, setter in FIELDS.items():
        for value in (0, -1, 1.5, True, False, None, [], {}, [1, 2], {"a": {}}, 2**70):
            out.append(
                Body(f"{type(value).__name__} {value!r} in {field}", _dump(setter(item(), value)))
            )
    # 7. Random JSON shapes.
    for i in range(150):
        out.append(Body(f"random shape {i}", _dump(_random_json(rng))))
    for i in range(60):
        body = item()
        for field in rng.sample(list(FIELDS), rng.randrange(1, 4)):
            FIELDS[field](body, _random_json(rng))
        out.append(Body(f"random fields {i}", _dump(body)))
    # 8. Bytes that are not UTF-8 JSON, and wrong content types.
    valid = _dump(item())
    raw_bodies = [
        (
            "bad UTF-8 in a string",
            b'{"customer": {"email": "\xff\xfe@x.example"}, "touchpoint": "a"}',
        ),
        ("bad UTF-8 overlong", b'{"customer": {"email": "\xc0\xafa@x.example"}}'),
        ("lone surrogate bytes", b'{"customer": {"email": "\xed\xa0\x80@x.example"}}'),
        (
            "latin-1 JSON",
            json.dumps(item(), ensure_ascii=False).replace("Fuzz", "Zoë").encode("latin-1"),
        ),
        ("UTF-16 JSON", json.dumps(item()).encode("utf-16")),
        ("UTF-32 JSON", json.dumps(item()).encode("utf-32")),
        ("BOM then JSON", b"\xef\xbb\xbf" + valid),
        ("NUL bytes", b"\x00" * 100),
        ("empty", b""),
        ("whitespace", b" \n\t "),
        ("truncated", valid[: len(valid) // 2]),
        ("two documents", valid + valid),
        ("trailing garbage", valid + b"garbage"),
        ("random bytes", bytes(rng.randrange(256) for _ in range(2000))),
    ]
    for label, data in raw_bodies:
        out.append(Body(label, data))
    for content_type in (
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/json; charset=latin-1",
        "application/json; charset=nonsense",
        "application/xml",
        "*/*",
        "application/json; boundary=\x7f",
    ):
        out.append(Body(f"content type {content_type!r}", valid, content_type))
        out.append(
            Body(f"form body as {content_type!r}", b"customer=pat&touchpoint=a", content_type)
        )
    # 9. Hostile Authorization headers (must be 401, never 5xx).
    for i, token in enumerate(
        [
            *hostile["tokens"],
            "Bearer",
            "Bearer  ",
            "Basic Zm9vOmJhcg==",
            "bearer \xff\xfe",
            "Bearer " + "A" * 10000,
            "Bearer a b c",
        ]
    ):
        header = token if token.lower().startswith(("bearer", "basic")) else f"Bearer {token}"
        out.append(Body(f"authorization {i}", valid, JSON, header))
    return out


def batch_bodies(singles: list[Body], touchpoints: list[str], staff: str) -> list[Body]:
    """Batch-endpoint bodies: each single one wrapped, and a few of the batch's own shapes."""
    out = []
    for body in singles:
        try:
            inner = body.data.decode()
        except UnicodeDecodeError:
            out.append(
                Body(f"batch: {body.label} (raw)", body.data, body.content_type, body.authorization)
            )
            continue
        wrapped = ('{"interactions": [' + inner + "]}").encode()
        out.append(Body(f"batch of [{body.label}]", wrapped, body.content_type, body.authorization))
    many = [_item(100_000 + i, touchpoints[0], staff) for i in range(501)]
    dupes = [_item(200_000, touchpoints[0], staff)] * 20
    for label, value in [
        ("batch of 501", {"interactions": many}),
        ("batch of 500", {"interactions": many[:500]}),
        ("batch of one reference twenty times", {"interactions": dupes}),
        ("interactions: object", {"interactions": {"0": many[0]}}),
        ("interactions: string", {"interactions": "x"}),
        ("interactions: null", {"interactions": None}),
        ("no interactions", {"items": many[:3]}),
        ("a list", many[:3]),
    ]:
        out.append(Body(label, _dump(value)))
    return out


@dataclass
class Outcome:
    label: str
    path: str
    status: int  # 0: no answer at all (the connection broke or timed out)
    detail: str = ""


def send(port: int, token: str, path: str, body: Body, method: str = "POST") -> Outcome:
    headers = {"Authorization": body.authorization or f"Bearer {token}"}
    if body.content_type is not None:
        headers["Content-Type"] = body.content_type
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.putrequest(method, path)
        for name, value in headers.items():
            conn.putheader(name, value.encode("latin-1", "replace"))
        conn.putheader("Content-Length", str(len(body.data)))
        conn.endheaders(body.data)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return Outcome(body.label, path, response.status, data[:200].decode("utf-8", "replace"))
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(body.label, path, 0, f"{type(exc).__name__}: {exc}")
