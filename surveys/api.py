"""The API's surveys part: ingest (interactions) and reads (responses, customers).

A django-ninja ``Router``; ``feedback.api`` mounts it with ``actions.api``'s under one
``NinjaAPI`` at ``/api/v1/``, so one OpenAPI document, generated from the typed models below,
lists every endpoint. The plumbing every part shares lives here, on the lowest floor with an
API: the bearer token and its scope (``TokenAuth``), the per-token rate limit, the error shape
``{"errors": {"field": ["message"]}}`` (``ApiError``) and the signed keyset cursor.

Ingest writes rows and returns; it never talks to Celery or the broker, so with Redis down
interactions are still accepted and the invitation sweep sends them once it is back.

Its bodies are read by ``surveys.jsonbody`` and checked by ``surveys.ingest``, not by
pydantic: NaN, repeated keys and the rest must stay distinct 4xx answers naming the field,
and one bad row of a batch must not sink the others. ``InteractionIn`` documents the body.
"""

import base64
import logging
import time
from datetime import datetime
from typing import Annotated, Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import DataError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from ninja import Field, Query, Router, Schema, Status
from ninja.security import HttpBearer
from pydantic import WithJsonSchema

from accounts.models import ApiToken

from . import queries
from .ingest import (
    MAX_METADATA_BYTES,
    MAX_REFERENCE,
    InputError,
    Lookups,
    json_problems,
    parse_interaction,
)
from .jsonbody import BodyError, json_body_read
from .models import Interaction, Response
from .services import interactions_record

logger = logging.getLogger(__name__)
REFUSED = "The database refused this interaction; it was not recorded."
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# Text the API has always sent as Python's isoformat() (microseconds, "+00:00"): typed as
# strings with the date-time format so the generated schema says so and the bytes stay the same.
DateTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Uuid = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]


# --- Errors, tokens, rate limits ----------------------------------------------------------------


class ApiError(Exception):
    """An answer in the API's error shape: ``{"errors": {field: [message, ...]}}``."""

    def __init__(self, status: int, errors: dict[str, list[str]], **headers: str):
        super().__init__(errors)
        self.status = status
        self.errors = errors
        self.headers = headers


def error_response(request: HttpRequest, exc: ApiError | BodyError | InputError) -> JsonResponse:
    """The one handler for ApiError, BodyError and InputError (registered by feedback.api)."""
    response = JsonResponse({"errors": exc.errors}, status=exc.status)
    for name, value in getattr(exc, "headers", {}).items():
        response[name.replace("_", "-")] = value
    return response


class Errors(Schema):
    errors: dict[str, list[str]]


ERROR_TEXT = {
    400: "Malformed JSON (NaN, a repeated key, not UTF-8, nested too deep), a field of the "
    "wrong type, an occurred_at before 2000 or more than a day ahead, or a bad filter.",
    401: "Missing or invalid API token.",
    403: "The token doesn't have this endpoint's scope.",
    404: "Not found in this token's business (or an unknown touchpoint).",
    413: "Body too large, or more than 500 interactions.",
    415: "Not sent as Content-Type: application/json (UTF-8).",
    422: "A value that can't be used: email, date, staff member.",
    429: "Rate limit reached; see Retry-After.",
}


def error_responses(*codes: int) -> dict[int, type[Errors]]:
    return dict.fromkeys(codes, Errors)


def _rate_wait(token: ApiToken) -> int:
    """Seconds to wait when the token has used its calls for this minute, else 0."""
    limit = settings.HEARD["API_RATE_LIMIT_PER_MINUTE"]
    now = time.time()
    key = f"api-rate:{token.pk}:{int(now // 60)}"
    try:
        count = 1 if cache.add(key, 1, timeout=70) else cache.incr(key)
    except Exception:  # a cache outage must not stop interactions being recorded
        return 0
    if count > limit:
        return max(1, int(60 - now % 60))
    return 0


SCOPE_REFUSALS = {
    ApiToken.Scope.INGEST: "This token can't send interactions: it needs the ingest scope.",
    ApiToken.Scope.READ: "This token can't read: it needs the read scope.",
    ApiToken.Scope.WEBHOOKS: "This token can't manage webhooks: it needs the webhooks scope.",
}


class TokenAuth(HttpBearer):
    """A bearer token of the API (``ApiToken``) that holds ``scope``; rate-limited per token.

    ``request.auth`` is the token (with its ``org``); every query starts from ``token.org``.
    """

    def __init__(self, scope: str):
        super().__init__()
        self.scope = scope

    def __call__(self, request: HttpRequest) -> ApiToken:
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        token = ApiToken.authenticate(raw.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise ApiError(401, {"authorization": ["Send a valid API token: Bearer <token>."]})
        if not token.allows(self.scope):
            raise ApiError(403, {"__all__": [SCOPE_REFUSALS[self.scope]]})
        wait = _rate_wait(token)
        if wait:
            limit = settings.HEARD["API_RATE_LIMIT_PER_MINUTE"]
            message = f"At most {limit} calls a minute per token; try again in {wait} s."
            raise ApiError(429, {"rate": [message]}, Retry_After=str(wait))
        token.touch(timezone.now())
        return token

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        return None  # __call__ does it all; HttpBearer wants this for its OpenAPI entry


INGEST = TokenAuth(ApiToken.Scope.INGEST)
READ = TokenAuth(ApiToken.Scope.READ)


# --- The keyset cursor ------------------------------------------------------------------------

_cursor_signer = signing.Signer(salt="heard.api.cursor")


def cursor_make(when: datetime, pk: int) -> str:
    """An opaque cursor for the row after which the next page starts."""
    value = base64.urlsafe_b64encode(f"{when.isoformat()}|{pk}".encode()).decode()
    return _cursor_signer.sign(value)


def cursor_read(cursor: str | None) -> tuple[datetime, int] | None:
    """The (time, id) a cursor names, or ApiError 400 for one Heard did not make."""
    if not cursor:
        return None
    try:
        value = base64.urlsafe_b64decode(_cursor_signer.unsign(cursor)).decode()
        when, pk = value.split("|")
        parsed = parse_datetime(when)
        if parsed is None:
            raise ValueError(when)
        return parsed, int(pk)
    except (signing.BadSignature, ValueError, UnicodeDecodeError):
        raise ApiError(400, {"cursor": ["Not a cursor from a previous page."]}) from None


def page_answer(request: HttpRequest, rows: list, limit: int, position, render) -> dict:
    """``{"results", "next"}`` for rows fetched with one extra row to tell if there is more."""
    more = len(rows) > limit
    rows = rows[:limit]
    following = None
    if more:
        params = request.GET.copy()
        params["cursor"] = cursor_make(*position(rows[-1]))
        following = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
    return {"results": [render(row) for row in rows], "next": following}


class PageFilters(Schema):
    since: datetime | None = Field(None, description="Only rows from this time on.")
    until: datetime | None = Field(None, description="Only rows before this time.")
    touchpoint: str | None = Field(None, description="A touchpoint's slug.")
    cursor: str | None = Field(None, description="The `next` link's cursor: the next page.")
    limit: int = Field(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Rows per page.")


# --- Ingest -----------------------------------------------------------------------------------


class CustomerIn(Schema):
    email: str = Field(json_schema_extra={"format": "email"}, max_length=254)
    name: str | None = Field(None, max_length=150)
    locale: str | None = Field(None, max_length=20)


class InteractionIn(Schema):
    customer: CustomerIn
    touchpoint: str = Field(description="The touchpoint's slug.")
    staff: str | None = Field(
        None,
        json_schema_extra={"format": "email"},
        description="Email of the member who served the customer.",
    )
    occurred_at: datetime | None = Field(
        None, description="Default now. From 2000-01-01T00:00:00Z to one day from now."
    )
    reference: str | None = Field(
        None,
        max_length=MAX_REFERENCE,
        description="Your own id. Sending it again returns the same interaction.",
    )
    metadata: dict[str, Any] | None = Field(
        None, description=f"Small: at most {MAX_METADATA_BYTES:,} bytes, eight levels deep."
    )


class BatchIn(Schema):
    interactions: list[InteractionIn] = Field(max_length=500)


# Documented from the models above; read by jsonbody and checked by ingest (module docstring).
REQUEST_MODELS = [InteractionIn, BatchIn]


def request_body(model: type[Schema]) -> dict:
    """An operation's documented JSON body: the model is in the components (feedback.api)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


class CustomerRef(Schema):
    email: str


class InvitationOut(Schema):
    status: str
    due_at: DateTime
    skip_reason: str | None


class InteractionOut(Schema):
    id: Uuid
    reference: str | None
    touchpoint: str
    customer: CustomerRef
    occurred_at: DateTime
    invitation: InvitationOut | None


class InteractionAnswer(Schema):
    interaction: InteractionOut


class RowInteraction(Schema):
    id: Uuid
    reference: str | None


class BatchRow(Schema):
    index: int
    status: int
    interaction: RowInteraction | None = None
    errors: dict[str, list[str]] | None = None


class BatchAnswer(Schema):
    created: int
    existing: int
    failed: int
    results: list[BatchRow]


router = Router(tags=["interactions"])


def _body_read(request: HttpRequest):
    return json_body_read(request, max_bytes=settings.HEARD["API_MAX_BODY_BYTES"])


def _interaction_json(interaction: Interaction) -> dict:
    invitation = getattr(interaction, "invitation", None)
    return {
        "id": str(interaction.code),
        "reference": interaction.reference,
        "touchpoint": interaction.touchpoint.slug,
        "customer": {"email": interaction.customer.email},
        "occurred_at": interaction.occurred_at.isoformat(),
        "invitation": {
            "status": invitation.status,
            "due_at": invitation.due_at.isoformat(),
            "skip_reason": invitation.skip_reason or None,
        }
        if invitation
        else None,
    }


@router.post(
    "/interactions",
    auth=INGEST,
    url_name="interactions",
    summary="Record one interaction and schedule its survey invitation.",
    description="201 when recorded; 200 when its reference was recorded before (unchanged).",
    response={201: InteractionAnswer, 200: InteractionAnswer}
    | error_responses(400, 401, 403, 404, 413, 415, 422, 429),
    openapi_extra=request_body(InteractionIn),
)
def interaction_create(request):
    token = request.auth
    data = _body_read(request)
    now = timezone.now()
    item = parse_interaction(data, Lookups(token.org, now=now))
    try:
        [(interaction, created)] = interactions_record(
            org=token.org, items=[item], source=Interaction.Source.API, now=now
        )
    except DataError:
        # Validation should have caught it; say so in the log, not with a 500.
        logger.exception("An interaction passed validation but the database refused it")
        raise ApiError(422, {"body": [REFUSED]}) from None
    return Status(201 if created else 200, {"interaction": _interaction_json(interaction)})


@router.post(
    "/interactions/batch",
    auth=INGEST,
    url_name="interactions_batch",
    summary="Record up to 500 interactions; each gets its own status.",
    description="Per-row results: status 201, 200 or an error with its errors.",
    response={200: BatchAnswer} | error_responses(400, 401, 403, 413, 415, 429),
    openapi_extra=request_body(BatchIn),
)
def interactions_batch_create(request):
    token = request.auth
    data = _body_read(request)
    items = data.get("interactions") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ApiError(400, {"interactions": ['Send {"interactions": [ ... ]}.']})
    # Rows are checked one by one below; what's around them (a second "interactions", a NaN)
    # makes the whole body ambiguous.
    problems = json_problems({k: v for k, v in data.items() if k != "interactions"})
    if getattr(data, "duplicates", None):
        problems["interactions" if "interactions" in data.duplicates else "body"] = [
            "A key is given more than once."
        ]
    if problems:
        raise ApiError(400, problems)
    limit = settings.HEARD["API_BATCH_LIMIT"]
    if len(items) > limit:
        raise ApiError(413, {"interactions": [f"At most {limit} interactions per batch."]})
    now = timezone.now()
    lookups = Lookups(token.org, now=now)
    parsed, results = [], []
    for index, raw in enumerate(items):
        try:
            parsed.append((index, parse_interaction(raw, lookups)))
        except InputError as exc:
            results.append({"index": index, "status": exc.status, "errors": exc.errors})
    recorded = _record_batch(token.org, [item for _, item in parsed], now)
    for (index, _), outcome in zip(parsed, recorded, strict=True):
        if outcome is None:
            results.append({"index": index, "status": 422, "errors": {"body": [REFUSED]}})
            continue
        interaction, created = outcome
        results.append(
            {
                "index": index,
                "status": 201 if created else 200,
                "interaction": {"id": str(interaction.code), "reference": interaction.reference},
            }
        )
    results.sort(key=lambda r: r["index"])
    summary = {
        "created": sum(r["status"] == 201 for r in results),
        "existing": sum(r["status"] == 200 for r in results),
        "failed": sum(r["status"] >= 400 for r in results),
    }
    # Built here rather than validated row by row by the response model: 500 rows are the hot
    # path, and BatchAnswer documents exactly this shape (tests/surveys/test_read_api.py).
    return JsonResponse({**summary, "results": results}, status=200)


def _record_batch(org, items, now) -> list:
    """interactions_record for the batch, or row by row when the database refuses one.

    Validation should leave nothing for the database to refuse; if it ever does, the good
    rows are still recorded and only the refused one reports an error (None here).
    """
    source = Interaction.Source.API
    try:
        # interactions_record writes in a transaction: a refusal leaves nothing behind.
        return interactions_record(org=org, items=items, source=source, now=now)
    except DataError:
        logger.exception("A batch passed validation but the database refused it")
    recorded = []
    for item in items:
        try:
            [outcome] = interactions_record(org=org, items=[item], source=source, now=now)
        except DataError:
            logger.exception("An interaction passed validation but the database refused it")
            outcome = None
        recorded.append(outcome)
    return recorded


# --- Reads: responses and customers -----------------------------------------------------------


class AnswerOut(Schema):
    question: str
    kind: str
    value: str = Field(description="yes/no, 1-5, the choice or the text, as given.")


class ResponseOut(Schema):
    interaction: RowInteraction
    touchpoint: str
    customer: CustomerRef
    channel: str
    submitted_at: DateTime
    answers: list[AnswerOut]
    words: str = Field(description="The customer's own words, if any.")


class ResponsePage(Schema):
    results: list[ResponseOut]
    next: str | None = Field(description="The next page's URL, or null on the last page.")


class CustomerOut(Schema):
    email: str
    name: str
    locale: str
    created_at: DateTime
    unsubscribed: bool
    bounced: bool
    responses: list[ResponseOut] = Field(description="The latest responses, newest first.")


def response_json(response: Response) -> dict:
    interaction = response.invitation.interaction
    return {
        "interaction": {"id": str(interaction.code), "reference": interaction.reference},
        "touchpoint": interaction.touchpoint.slug,
        "customer": {"email": response.customer.email},
        "channel": response.channel,
        "submitted_at": response.submitted_at.isoformat(),
        "answers": [
            {"question": a.question.text, "kind": a.question.kind, "value": a.value}
            for a in response.answers.all()
        ],
        "words": response.verbatim,
    }


read_router = Router(tags=["read"])


@read_router.get(
    "/responses",
    auth=READ,
    url_name="responses",
    summary="Submitted responses with their answers and words, newest first.",
    response={200: ResponsePage} | error_responses(400, 401, 403, 429),
)
def responses_list(request, filters: Query[PageFilters]):
    after = cursor_read(filters.cursor)
    rows = queries.api_responses_page(
        org=request.auth.org,
        since=filters.since,
        until=filters.until,
        touchpoint=filters.touchpoint,
        after=after,
        limit=filters.limit + 1,
    )
    return page_answer(
        request, rows, filters.limit, lambda r: (r.submitted_at, r.pk), response_json
    )


@read_router.get(
    "/customers/{email}",
    auth=READ,
    url_name="customer",
    summary="One customer of this business by email, with their latest responses.",
    response={200: CustomerOut} | error_responses(401, 403, 404, 429),
)
def customer_detail(request, email: str):
    customer, responses = queries.api_customer(org=request.auth.org, email=email)
    if customer is None:
        raise ApiError(404, {"email": ["This business has no customer with that email."]})
    return {
        "email": customer.email,
        "name": customer.name,
        "locale": customer.locale,
        "created_at": customer.created_at.isoformat(),
        "unsubscribed": customer.opted_out_at is not None,
        "bounced": customer.bounced_at is not None,
        "responses": [response_json(r) for r in responses],
    }
