import json

import pytest
from django.core.cache import cache

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
    expected = [400, 400, 400, 404, 422, 422, 400, 400, 400]
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
    assert set(schema["paths"]) == {"/api/v1/interactions", "/api/v1/interactions/batch"}
    codes = schema["paths"]["/api/v1/interactions"]["post"]["responses"]
    assert {"201", "200", "400", "401", "404", "413", "422", "429"} <= set(codes)
    assert client.post("/api/v1/openapi.json").status_code == 405
