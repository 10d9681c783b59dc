import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.models import ApiToken
from surveys.models import Customer, Interaction, Invitation

URL = "/api/v1/interactions"
BATCH = "/api/v1/interactions/batch"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


def payload(**extra):
    data = {"customer": {"email": "Pat@Example.com", "name": "Pat Jones"}, "touchpoint": "repair"}
    data.update(extra)
    return data


def test_it_records_an_interaction_and_schedules_its_invitation(api, org, touchpoint, teammate):
    response = api.post(
        URL, payload(staff="bob@alpha.example", reference="till-1", metadata={"a": 1})
    )
    assert response.status_code == 201
    body = response.json()["interaction"]
    assert body["reference"] == "till-1"
    assert body["invitation"]["status"] == "scheduled"
    interaction = Interaction.objects.get()
    assert interaction.customer.email == "pat@example.com"
    assert interaction.staff == teammate
    assert interaction.invitation.status == Invitation.Status.SCHEDULED


def test_a_repeated_reference_returns_the_same_interaction(api, org, touchpoint):
    first = api.post(URL, payload(reference="till-1"))
    second = api.post(URL, payload(reference="till-1"))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["interaction"]["id"] == second.json()["interaction"]["id"]
    assert Interaction.objects.count() == 1
    assert Invitation.objects.count() == 1


def test_the_same_reference_in_another_org_is_another_interaction(api, org, other_org, touchpoint):
    from tests.factories import make_touchpoint

    make_touchpoint(other_org, slug="repair")
    _token, raw = ApiToken.issue(org=other_org, name="Other")
    assert api.post(URL, payload(reference="till-1")).status_code == 201
    assert api.post(URL, payload(reference="till-1"), token=raw).status_code == 201
    assert Interaction.objects.count() == 2


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer nope", "Basic abc", "Bearer heard_x"])
def test_it_answers_401_without_a_valid_token(api, touchpoint, header):
    response = api.client.post(
        URL, "{}", content_type="application/json", HTTP_AUTHORIZATION=header
    )
    assert response.status_code == 401
    assert "authorization" in response.json()["errors"]


def test_a_revoked_token_is_401(api, org, api_token, touchpoint):
    from django.utils import timezone

    ApiToken.objects.update(revoked_at=timezone.now())
    assert api.post(URL, payload()).status_code == 401


def test_it_answers_400_to_malformed_json(api, touchpoint):
    response = api.post(URL, raw="{not json")
    assert response.status_code == 400
    assert response.json() == {"errors": {"body": ["The body is not valid JSON."]}}


def test_every_bad_payload_gets_a_clear_4xx(api, touchpoint, hostile_inputs):
    # ..., then year 1 and year 9999 (outside the window), lone surrogates in metadata
    expected = [400, 400, 400, 404, 422, 422, 400, 400, 400, 400, 400, 422, 422]
    statuses = []
    for bad in hostile_inputs["api_payloads_bad"]:
        response = api.post(URL, bad)
        assert response["Content-Type"] == "application/json"
        assert response.json()["errors"], bad
        statuses.append(response.status_code)
    assert statuses == expected
    assert Interaction.objects.count() == 0


def test_an_unknown_touchpoint_is_404(api, touchpoint):
    response = api.post(URL, payload(touchpoint="nope"))
    assert response.status_code == 404
    assert "touchpoint" in response.json()["errors"]


def test_a_switched_off_touchpoint_is_404_and_says_so(api, touchpoint):
    touchpoint.active = False
    touchpoint.save(update_fields=["active"])
    response = api.post(URL, payload())
    assert response.status_code == 404
    assert "switched off" in response.json()["errors"]["touchpoint"][0]
    batch = api.post(BATCH, {"interactions": [payload()]})
    assert batch.json()["results"][0]["status"] == 404
    assert Interaction.objects.count() == 0


def test_an_unknown_staff_member_is_422(api, touchpoint, outsider):
    response = api.post(URL, payload(staff=outsider.user.email))
    assert response.status_code == 422
    assert "staff" in response.json()["errors"]


@pytest.mark.parametrize(
    "email", ["not-an-email", "pat@", "pat@@example.com", "a\r\nb@example.com"]
)
def test_an_invalid_email_is_422(api, touchpoint, email):
    response = api.post(URL, payload(customer={"email": email}))
    assert response.status_code == 422
    assert "customer.email" in response.json()["errors"]


def test_a_body_over_the_limit_is_413(api, touchpoint, hostile_inputs):
    # The default limit (1 MB) refuses the usual suspects' oversized body.
    size = hostile_inputs["sizes"]["json_body_over_1mb_bytes"]
    body = json.dumps(payload(metadata={"x": "a" * size}))
    response = api.post(URL, raw=body)
    assert response.status_code == 413
    assert Interaction.objects.count() == 0


def test_a_batch_over_500_is_413(api, touchpoint):
    items = [payload(reference=f"r{i}") for i in range(501)]
    response = api.post(BATCH, {"interactions": items})
    assert response.status_code == 413
    assert Interaction.objects.count() == 0


def test_it_rate_limits_each_token_with_retry_after(api, touchpoint, settings):
    settings.HEARD = {**settings.HEARD, "API_RATE_LIMIT_PER_MINUTE": 3}
    statuses = [api.post(URL, payload()).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    limited = api.post(URL, payload())
    assert int(limited["Retry-After"]) >= 1
    assert "rate" in limited.json()["errors"]


def test_hostile_names_are_stored_as_given_or_refused_clearly(api, touchpoint, hostile_inputs):
    from tests.hostile import hostile_strings

    for index, name in enumerate(hostile_strings()):
        response = api.post(URL, payload(customer={"email": f"p{index}@example.com", "name": name}))
        if "\x00" in name or name == "\ud83d":
            assert response.status_code == 422, name
            assert "name" in response.json()["errors"]
        else:
            assert response.status_code == 201, name
            assert Customer.objects.get(email=f"p{index}@example.com").name == name.strip()


def test_it_answers_201_with_the_broker_unreachable(api, touchpoint, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = api.post(URL, payload())
    assert response.status_code == 201
    assert Invitation.objects.filter(status="scheduled").count() == 1


def test_the_batch_records_many_and_reports_each(api, touchpoint, django_assert_max_num_queries):
    items = [payload(customer={"email": f"c{i}@example.com"}, reference=f"r{i}") for i in range(50)]
    items.append(payload(reference="r0"))  # a repeat of the first
    items.append(payload(touchpoint="nope"))
    items.append(payload(occurred_at="yesterday"))
    with django_assert_max_num_queries(12):
        response = api.post(BATCH, {"interactions": items})
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["existing"], body["failed"]) == (50, 1, 2)
    assert [r["status"] for r in body["results"][-3:]] == [200, 404, 422]
    assert Interaction.objects.count() == 50
    assert Invitation.objects.count() == 50
    again = api.post(BATCH, {"interactions": items[:50]}).json()
    assert again["existing"] == 50
    assert Interaction.objects.count() == 50


@pytest.mark.parametrize("body", [[], {"interactions": "x"}, {}])
def test_a_batch_of_the_wrong_shape_is_400(api, touchpoint, body):
    assert api.post(BATCH, body).status_code == 400


def test_the_api_rejects_get(api, touchpoint, api_token):
    response = api.client.get(URL, HTTP_AUTHORIZATION=f"Bearer {api_token}")
    assert response.status_code == 405


def test_it_serves_the_openapi_schema(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    # One document for the whole API: the ingest paths among the others.
    assert {"/api/v1/interactions", "/api/v1/interactions/batch"} <= set(schema["paths"])
    codes = schema["paths"]["/api/v1/interactions"]["post"]["responses"]
    assert {"201", "200", "400", "401", "404", "413", "422", "429"} <= set(codes)
    assert client.post("/api/v1/openapi.json").status_code == 405


@pytest.mark.parametrize(
    "when",
    [
        "1999-12-31T23:59:59Z",
        "2000-01-01T00:30:00+01:00",
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:59:59-23:59",
        "+25h",
    ],
)
def test_it_refuses_an_occurred_at_outside_the_window_naming_it(api, touchpoint, when):
    if when == "+25h":
        when = (timezone.now() + timedelta(hours=25)).isoformat()
    response = api.post(URL, payload(occurred_at=when))
    assert response.status_code == 400
    [message] = response.json()["errors"]["occurred_at"]
    assert "2000-01-01" in message and "one day" in message
    batch = api.post(BATCH, {"interactions": [payload(occurred_at=when), payload(reference="ok")]})
    assert [r["status"] for r in batch.json()["results"]] == [400, 201]
    assert list(Interaction.objects.values_list("reference", flat=True)) == ["ok"]


@pytest.mark.parametrize("when", ["2000-01-01T00:00:00Z", "+23h"])
def test_it_accepts_an_occurred_at_at_the_edges_of_the_window(api, touchpoint, when):
    if when == "+23h":
        when = (timezone.now() + timedelta(hours=23)).isoformat()
    assert api.post(URL, payload(occurred_at=when)).status_code == 201


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_numbers_json_cannot_carry_are_400_naming_the_field(api, touchpoint, number):
    row = '{"customer": {"email": "pat@example.com"}, "touchpoint": "repair", "metadata": '
    response = api.post(URL, raw=f'{row}{{"k": [1, {number}]}}}}')
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["metadata"]
    good = json.dumps(payload(reference="ok"))
    batch = api.post(BATCH, raw=f'{{"interactions": [{row}{number}}}, {good}]}}')
    assert [r["status"] for r in batch.json()["results"]] == [400, 201]
    assert Interaction.objects.count() == 1


def test_a_repeated_key_is_400_naming_it(api, touchpoint):
    body = (
        '{"customer": {"email": "a@example.com", "email": "b@example.com"}, "touchpoint": "repair"}'
    )
    response = api.post(URL, raw=body)
    assert response.status_code == 400
    assert response.json()["errors"] == {"customer.email": ["Given more than once."]}
    twice = '{"interactions": [], "interactions": [{"touchpoint": "repair"}]}'
    assert api.post(BATCH, raw=twice).json()["errors"].keys() == {"interactions"}
    assert Interaction.objects.count() == 0


@pytest.mark.parametrize("text", ["\\ud800", "\\udc00\\ud800", "\\u0000"])
def test_unstorable_metadata_is_422_and_the_batch_keeps_its_good_rows(api, touchpoint, text):
    bad = '{"customer": {"email": "pat@example.com"}, "touchpoint": "repair", "metadata": '
    for n, metadata in enumerate((f'{{"k": "{text}"}}', f'{{"{text}": 1}}')):
        good = json.dumps(payload(reference=f"ok-{n}"))
        single = api.post(URL, raw=f"{bad}{metadata}}}")
        assert single.status_code == 422
        assert "metadata" in single.json()["errors"]
        batch = api.post(BATCH, raw=f'{{"interactions": [{bad}{metadata}}}, {good}]}}')
        assert batch.status_code == 200
        assert [r["status"] for r in batch.json()["results"]] == [422, 201]
    assert sorted(Interaction.objects.values_list("reference", flat=True)) == ["ok-0", "ok-1"]


def test_metadata_nested_too_deep_is_422(api, touchpoint):
    nested = {"leaf": 1}
    for _ in range(8):
        nested = {"a": nested}
    response = api.post(URL, payload(metadata=nested))
    assert response.status_code == 422
    assert "levels deep" in response.json()["errors"]["metadata"][0]


@pytest.mark.parametrize("endpoint", [URL, BATCH])
def test_a_body_nested_100000_deep_is_400(api, touchpoint, endpoint):
    response = api.post(endpoint, raw="[" * 100_000)
    assert response.status_code == 400
    assert response.json() == {"errors": {"body": ["The body is not valid JSON."]}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "The body is empty: send a JSON object."),
        (b'{"customer": "Zo\xeb"}', "The body is not UTF-8."),
        (json.dumps(payload()).encode("utf-16"), "The body is not UTF-8."),
    ],
)
def test_an_empty_or_non_utf8_body_is_400(api, touchpoint, raw, message):
    response = api.post(URL, raw=raw)
    assert response.status_code == 400
    assert response.json() == {"errors": {"body": [message]}}


def test_a_body_that_is_not_json_by_content_type_is_415(api, api_token, touchpoint):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token}"}
    body = json.dumps(payload())
    for content_type in ("application/x-www-form-urlencoded", "text/plain"):
        response = api.client.post(URL, body, content_type=content_type, **auth)
        assert response.status_code == 415
        assert "content_type" in response.json()["errors"]
    assert api.client.generic("POST", URL, body, content_type="", **auth).status_code == 201


@pytest.mark.parametrize("length", ["abc", "1e3", "-1", "9" * 5000])
def test_a_content_length_that_is_not_a_small_number_is_4xx_not_500(api, touchpoint, length):
    response = api.post(URL, payload(), CONTENT_LENGTH=length)
    assert response.status_code in (400, 413)
    assert response.json()["errors"]
