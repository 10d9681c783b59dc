"""Every hostile body, header and string from tests/data/hostile-inputs.json, sent to both
ingest endpoints: never a 5xx, always the JSON error shape, a batch keeps its good rows, and
the invitation sweep still runs afterwards."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from surveys.ingest import storable
from surveys.models import Interaction
from surveys.sending import invitations_send_due
from tests.hostile import hostile_strings, load_hostile_inputs

URL = "/api/v1/interactions"
BATCH = "/api/v1/interactions/batch"
ENDPOINTS = [URL, BATCH]
DATA = load_hostile_inputs()


def raw_body(entry: str) -> str:
    """The body an api_bodies_raw entry stands for ('DEEP:<text>*<n>' is text repeated)."""
    if entry.startswith("DEEP:"):
        text, count = entry.removeprefix("DEEP:").rsplit("*", 1)
        return text * int(count)
    return entry


def good_row(n: int) -> dict:
    return {
        "customer": {"email": f"good{n}@example.com", "name": "Good Row"},
        "touchpoint": "repair",
        "reference": f"good-{n}",
        "metadata": {"row": f"good-{n}"},
    }


def assert_error_shape(response):
    assert 400 <= response.status_code < 500, response.content[:300]
    assert response["Content-Type"] == "application/json"
    errors = response.json()["errors"]
    assert errors and isinstance(errors, dict)
    for field, messages in errors.items():
        assert isinstance(field, str)
        assert messages and all(isinstance(m, str) and m for m in messages), errors


def assert_row_error_shape(result):
    assert 400 <= result["status"] < 500, result
    assert result["errors"] and all(
        messages and all(isinstance(m, str) for m in messages)
        for messages in result["errors"].values()
    ), result


def assert_the_sweep_still_runs():
    # A row the API let through once broke every later sweep ("year -1 is out of range").
    now = timezone.now()
    for later in (timedelta(0), timedelta(days=2), timedelta(days=40)):
        invitations_send_due(now=now + later)


def strictly_json(text: str) -> bool:
    """True when the text is JSON by RFC 8259 as Python's parser reads it (so a row, not noise)."""
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


RAW = DATA["api_bodies_raw"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("entry", RAW, ids=[f"raw{i}" for i in range(len(RAW))])
def test_it_refuses_each_hostile_body_with_a_json_4xx(api, touchpoint, endpoint, entry):
    response = api.post(endpoint, raw=raw_body(entry))
    assert_error_shape(response)
    assert Interaction.objects.count() == 0
    assert_the_sweep_still_runs()


@pytest.mark.parametrize("entry", RAW, ids=[f"raw{i}" for i in range(len(RAW))])
def test_it_keeps_the_good_rows_of_a_batch_with_a_hostile_row(api, touchpoint, entry):
    hostile = raw_body(entry)
    body = f'{{"interactions": [{json.dumps(good_row(1))}, {hostile}, {json.dumps(good_row(2))}]}}'
    response = api.post(BATCH, raw=body)
    if not strictly_json(hostile):
        # Not JSON at all (or nested past any parser's patience): no row can be trusted.
        assert_error_shape(response)
        assert response.json()["errors"].keys() == {"body"}
        assert Interaction.objects.count() == 0
    else:
        assert response.status_code == 200, response.content[:300]
        first, bad, second = response.json()["results"]
        assert (first["status"], second["status"]) == (201, 201)
        assert_row_error_shape(bad)
        stored = sorted(Interaction.objects.values_list("reference", flat=True))
        assert stored == ["good-1", "good-2"]
    assert_the_sweep_still_runs()


def test_it_refuses_every_bad_payload_in_a_batch_row_by_row(api, touchpoint):
    bad = DATA["api_payloads_bad"]
    items = [good_row(1), *bad, good_row(2)]
    response = api.post(BATCH, {"interactions": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in (results[0], results[-1])] == [201, 201]
    for result in results[1:-1]:
        assert_row_error_shape(result)
    assert sorted(Interaction.objects.values_list("reference", flat=True)) == ["good-1", "good-2"]
    assert_the_sweep_still_runs()


REQUESTS = DATA["api_requests"]


def encoded(case: dict) -> bytes:
    encoding = case.get("encoding", "utf-8")
    if encoding == "utf-8/surrogatepass":
        return case["body"].encode("utf-8", "surrogatepass")
    return case["body"].encode(encoding)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", REQUESTS, ids=[f"request{i}" for i in range(len(REQUESTS))])
def test_it_answers_hostile_headers_and_encodings_with_a_json_4xx(
    api, api_token, touchpoint, endpoint, case
):
    body = encoded(case)
    extra = {}
    if "content_length" in case:
        extra["CONTENT_LENGTH"] = case["content_length"]
    # generic(), not post(): post() re-encodes a body sent with a charset, failing on bytes.
    response = api.client.generic(
        "POST",
        endpoint,
        body,
        content_type=case["content_type"],
        HTTP_AUTHORIZATION=f"Bearer {api_token}",
        **extra,
    )
    assert_error_shape(response)
    assert Interaction.objects.count() == 0


# Each text field of a valid body, and the error keys that name it.
TEXT_FIELDS = {
    "customer.email": {"email", "customer.email"},
    "customer.name": {"name", "customer.name"},
    "customer.locale": {"locale", "customer.locale"},
    "touchpoint": {"touchpoint"},
    "staff": {"staff"},
    "occurred_at": {"occurred_at"},
    "reference": {"reference"},
    "metadata.value": {"metadata"},
    "metadata.key": {"metadata"},
}


def with_text(field: str, value: str, n: int) -> dict:
    row = {
        "customer": {"email": f"row{n}@example.com", "name": "Pat"},
        "touchpoint": "repair",
        "metadata": {"row": n},
    }
    if field.startswith("customer."):
        row["customer"][field.removeprefix("customer.")] = value
    elif field == "metadata.value":
        row["metadata"]["value"] = value
    elif field == "metadata.key":
        row["metadata"][value] = "value"
    else:
        row[field] = value
    return row


def hostile_texts() -> list[str]:
    long = "x" * DATA["sizes"]["api_long_string_chars"]
    return [*hostile_strings(), *DATA["emails_malformed"], *DATA["tokens"], long]


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_every_hostile_string_in_every_text_field_is_kept_or_refused_clearly(
    api, touchpoint, field
):
    for n, value in enumerate(hostile_texts()):
        response = api.post(URL, with_text(field, value, n))
        label = f"{field}={value[:40]!r}"
        assert response.status_code < 500, label
        if response.status_code >= 400:
            assert_error_shape(response)
        if not storable(value):
            # An unknown touchpoint is 404 whatever its slug holds; nothing is stored.
            assert response.status_code in (400, 404 if field == "touchpoint" else 422, 422), label
            assert TEXT_FIELDS[field] & response.json()["errors"].keys(), label
    assert_the_sweep_still_runs()


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_a_batch_of_hostile_strings_stores_exactly_the_rows_it_accepts(api, touchpoint, field):
    texts = hostile_texts()
    rows = [with_text(field, value, n) for n, value in enumerate(texts)]
    items = [good_row(1), *rows, good_row(2)]
    response = api.post(BATCH, {"interactions": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in (results[0], results[-1])] == [201, 201]
    accepted = set()
    for result, value in zip(results[1:-1], texts, strict=True):
        assert result["status"] < 500, value[:40]
        if result["status"] >= 400:
            assert_row_error_shape(result)
        elif result["status"] == 201:
            accepted.add(result["index"] - 1)
        if not storable(value):
            assert TEXT_FIELDS[field] & result["errors"].keys(), value[:40]
    stored = {i.metadata["row"] for i in Interaction.objects.all()}
    assert stored == {"good-1", "good-2", *accepted}
    assert_the_sweep_still_runs()


def test_metadata_nested_past_the_limit_is_refused_row_by_row(api, touchpoint):
    nested: dict = {"leaf": 1}
    for _ in range(DATA["sizes"]["api_metadata_depth"]):
        nested = {"a": nested}
    row = {**good_row(3), "metadata": nested}
    single = api.post(URL, row)
    assert_error_shape(single)
    assert "metadata" in single.json()["errors"]
    batch = api.post(BATCH, {"interactions": [good_row(1), row, good_row(2)]}).json()
    assert [r["status"] for r in batch["results"]] == [201, single.status_code, 201]
    assert sorted(Interaction.objects.values_list("reference", flat=True)) == ["good-1", "good-2"]


def test_the_csv_door_refuses_a_date_outside_the_window(owner_client, touchpoint):
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = (
        "email,touchpoint,occurred_at\n"
        "pat@example.com,repair,0001-01-01T00:30:00+01:00\n"
        "sam@example.com,repair,\n"
    )
    upload = SimpleUploadedFile("rows.csv", text.encode(), content_type="text/csv")
    preview = owner_client.post("/surveys/import/", {"file": upload})
    assert preview.status_code == 200
    assert "2000-01-01" in preview.content.decode()
    owner_client.post("/surveys/import/", {"content": text, "confirm": "yes"})
    assert list(Interaction.objects.values_list("customer__email", flat=True)) == [
        "sam@example.com"
    ]
    assert_the_sweep_still_runs()
