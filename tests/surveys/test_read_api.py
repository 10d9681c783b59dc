"""The read API's surveys part (GET /api/v1/responses, /api/v1/customers/<email>), token
scopes, the generated OpenAPI document and the owners' docs page."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from openapi_spec_validator import validate

from accounts.models import ApiToken
from surveys.models import Response
from tests.factories import make_customer, make_invitation, make_response, make_touchpoint

RESPONSES = "/api/v1/responses"


def get(token: str, path: str, **params):
    return Client().get(path, params, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def reader(org, owner):
    return ApiToken.issue(org=org, name="BI", created_by=owner, scopes=["read"])[1]


@pytest.fixture
def other_reader(other_org, outsider):
    return ApiToken.issue(org=other_org, name="BI", created_by=outsider, scopes=["read"])[1]


def answered(touchpoint, *, email=None, words="", ago=timedelta(hours=1)):
    customer = make_customer(touchpoint.org, email=email)
    invitation = make_invitation(touchpoint, customer=customer)
    return make_response(
        invitation, answers={0: False}, verbatim=words, submitted_at=timezone.now() - ago
    )


def test_it_lists_responses_with_answers_and_words_newest_first(org, reader):
    touchpoint = make_touchpoint(org, slug="repair")
    answered(touchpoint, words="Older", ago=timedelta(hours=2))
    answered(touchpoint, words="Too slow", email="pat@example.com")
    response = get(reader, RESPONSES)
    assert response.status_code == 200
    body = response.json()
    assert [r["words"] for r in body["results"]] == ["Too slow", "Older"]
    first = body["results"][0]
    assert first["customer"] == {"email": "pat@example.com"}
    assert first["touchpoint"] == "repair"
    assert first["answers"][0]["value"] == "no"
    assert body["next"] is None


def test_another_businesss_responses_never_appear(org, other_org, reader, other_reader):
    answered(make_touchpoint(org, slug="repair"), words="Ours")
    answered(make_touchpoint(other_org, slug="repair"), words="Theirs")
    assert [r["words"] for r in get(reader, RESPONSES).json()["results"]] == ["Ours"]
    assert [r["words"] for r in get(other_reader, RESPONSES).json()["results"]] == ["Theirs"]


def test_it_filters_by_time_and_touchpoint(org, reader):
    repair = make_touchpoint(org, slug="repair")
    sale = make_touchpoint(org, slug="sale", name="Sale")
    answered(repair, words="old", ago=timedelta(days=3))
    answered(repair, words="new repair")
    answered(sale, words="new sale")
    since = (timezone.now() - timedelta(days=1)).isoformat()
    until = (timezone.now() - timedelta(days=2)).isoformat()
    words = lambda **p: sorted(r["words"] for r in get(reader, RESPONSES, **p).json()["results"])  # noqa: E731
    assert words(since=since) == ["new repair", "new sale"]
    assert words(until=until) == ["old"]
    assert words(touchpoint="sale") == ["new sale"]
    assert words(touchpoint="nope") == []


def test_a_bad_filter_or_cursor_is_400_in_the_error_shape(org, reader):
    bad_date = get(reader, RESPONSES, since="yesterday")
    assert bad_date.status_code == 400
    assert "since" in bad_date.json()["errors"]
    assert get(reader, RESPONSES, limit=0).status_code == 400
    forged = get(reader, RESPONSES, cursor="MjAyNi0wMS0wMVQwMDowMDowMHwx")
    assert forged.status_code == 400
    assert forged.json() == {"errors": {"cursor": ["Not a cursor from a previous page."]}}


def test_it_pages_through_1000_responses_at_constant_queries(
    org, reader, django_assert_num_queries
):
    touchpoint = make_touchpoint(org, slug="repair")
    invitation = make_invitation(touchpoint)
    now = timezone.now()
    # One real response with answers, then 999 more rows cheaply (same invitation shape).
    make_response(invitation, answers={0: False}, submitted_at=now)
    rows = []
    for n in range(999):
        extra = make_invitation(touchpoint, customer=invitation.customer)
        rows.append(
            Response(
                org=org,
                invitation=extra,
                survey_version=invitation.survey_version,
                customer=invitation.customer,
                submitted_at=now - timedelta(seconds=n % 10),  # ties: the id breaks them
            )
        )
    Response.objects.bulk_create(rows)
    seen, url, pages = [], RESPONSES + "?limit=100", 0
    client = Client()
    client.get(url, HTTP_AUTHORIZATION=f"Bearer {reader}")  # notes the token's last use
    while url:
        # The token (one query), the page and its answers: 3 however deep the page.
        with django_assert_num_queries(3):
            body = client.get(url, HTTP_AUTHORIZATION=f"Bearer {reader}").json()
        seen += [r["interaction"]["id"] for r in body["results"]]
        url, pages = body["next"], pages + 1
    assert pages == 10
    assert len(seen) == len(set(seen)) == 1000


def test_a_customer_by_email_with_their_responses(org, other_org, reader):
    answered(make_touchpoint(org, slug="repair"), email="pat@example.com", words="Slow")
    make_customer(other_org, email="sam@example.com")
    response = get(reader, "/api/v1/customers/Pat@Example.com")
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "pat@example.com"
    assert [r["words"] for r in body["responses"]] == ["Slow"]
    # Another business's customer is a 404, as is nobody at all.
    assert get(reader, "/api/v1/customers/sam@example.com").status_code == 404
    assert get(reader, "/api/v1/customers/nobody@example.com").status_code == 404


@pytest.mark.parametrize(
    ("scopes", "path", "message"),
    [
        (["ingest"], RESPONSES, "This token can't read"),
        (["ingest"], "/api/v1/customers/pat@example.com", "This token can't read"),
        (["read"], "/api/v1/interactions", "This token can't send interactions"),
    ],
)
def test_a_token_without_the_scope_is_403(org, owner, scopes, path, message):
    _token, raw = ApiToken.issue(org=org, name="Narrow", created_by=owner, scopes=scopes)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    if path.endswith("interactions"):
        response = client.post(path, "{}", content_type="application/json", **auth)
    else:
        response = client.get(path, **auth)
    assert response.status_code == 403
    [text] = response.json()["errors"]["__all__"]
    assert text.startswith(message)


def test_reads_are_rate_limited_per_token_with_retry_after(org, reader, settings):
    settings.HEARD = {**settings.HEARD, "API_RATE_LIMIT_PER_MINUTE": 2}
    statuses = [get(reader, RESPONSES).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert int(get(reader, RESPONSES)["Retry-After"]) >= 1


def test_without_a_token_reads_are_401(db):
    response = Client().get(RESPONSES)
    assert response.status_code == 401
    assert "authorization" in response.json()["errors"]


def test_the_generated_openapi_document_validates_and_lists_every_endpoint(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    validate(schema)  # the OpenAPI 3.1 specification's own schema and rules
    assert set(schema["paths"]) == {
        "/api/v1/interactions",
        "/api/v1/interactions/batch",
        "/api/v1/responses",
        "/api/v1/customers/{email}",
        "/api/v1/customers/{email}/export",
        "/api/v1/actions",
        "/api/v1/actions/{code}",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{code}",
    }
    body = schema["paths"]["/api/v1/interactions"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "customer" in schema["components"]["schemas"][ref]["required"]
    listed = schema["paths"]["/api/v1/responses"]["get"]
    assert {"since", "until", "touchpoint", "cursor", "limit"} <= {
        p["name"] for p in listed["parameters"]
    }
    assert {"200", "401", "403", "429"} <= set(listed["responses"])


def test_the_docs_page_is_for_logged_in_owners_only(client, owner_client, teammate_client):
    assert owner_client.get("/api/v1/docs").status_code == 200
    assert teammate_client.get("/api/v1/docs").status_code == 403
    assert client.get("/api/v1/docs").status_code == 302


def test_the_batch_answer_matches_its_documented_model(org, owner):
    from surveys.api import BatchAnswer

    make_touchpoint(org, slug="repair")
    _token, raw = ApiToken.issue(org=org, name="Till", created_by=owner)
    rows = [{"customer": {"email": "a@example.com"}, "touchpoint": "repair"}, {}]
    response = Client().post(
        "/api/v1/interactions/batch",
        json.dumps({"interactions": rows}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    BatchAnswer.model_validate(response.json())


# --- REST hooks (feedback.api over accounts.hooks), scope webhooks ------------------------------


@pytest.fixture
def hooker(org, owner):
    return ApiToken.issue(org=org, name="Zap", created_by=owner, scopes=["webhooks"])[1]


def post_hook(token: str, body):
    return Client().post(
        "/api/v1/webhooks",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_a_webhook_subscribes_with_its_secret_and_unsubscribes(org, other_org, hooker):
    from accounts.models import WebhookEndpoint

    created = post_hook(
        hooker, {"url": "https://hooks.example.com/in", "events": ["action.created"]}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"] and body["events"] == ["action.created"]
    endpoint = WebhookEndpoint.objects.get(code=body["id"])
    assert endpoint.org == org and endpoint.url == "https://hooks.example.com/in"
    theirs = WebhookEndpoint.objects.create(
        org=other_org, url="https://hooks.example.com/b", events=["action.created"]
    )
    delete = lambda code: Client().delete(  # noqa: E731
        f"/api/v1/webhooks/{code}", HTTP_AUTHORIZATION=f"Bearer {hooker}"
    )
    assert delete(theirs.code).status_code == 404
    assert delete("not-a-uuid").status_code == 404
    assert delete(endpoint.code).status_code == 204
    assert list(WebhookEndpoint.objects.all()) == [theirs]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"url": "https://hooks.example.com/in", "events": ["nope"]}, 422, "events"),
        ({"url": "ftp://hooks.example.com/in", "events": ["action.created"]}, 422, "url"),
        ({"url": "https://hooks.example.com/in", "events": "action.created"}, 400, "events"),
        ({"events": ["action.created"]}, 400, "url"),
        ([], 400, "body"),
    ],
)
def test_a_bad_subscription_is_refused_naming_the_field(org, hooker, body, status, field):
    from accounts.models import WebhookEndpoint

    response = post_hook(hooker, body)
    assert response.status_code == status
    assert field in response.json()["errors"]
    assert not WebhookEndpoint.objects.exists()


def test_webhooks_need_their_scope(org, reader):
    response = post_hook(
        reader, {"url": "https://hooks.example.com/in", "events": ["action.created"]}
    )
    assert response.status_code == 403
    assert response.json()["errors"]["__all__"][0].startswith("This token can't manage webhooks")
