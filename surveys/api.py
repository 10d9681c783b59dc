"""The ingest API: plain Django views speaking JSON.

A request writes rows and returns; it never talks to Celery or the broker, so with Redis down
interactions are still accepted and the invitation sweep sends them once it is back.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DataError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import ApiToken

from .ingest import InputError, Lookups, json_problems, parse_interaction
from .jsonbody import BodyError, json_body_read
from .models import Interaction
from .services import interactions_record

logger = logging.getLogger(__name__)
REFUSED = "The database refused this interaction; it was not recorded."


def _error(status: int, errors: dict, **headers) -> JsonResponse:
    response = JsonResponse({"errors": errors}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _authenticate(request):
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return ApiToken.authenticate(raw.strip())


def _rate_limited(token) -> int:
    """Seconds to wait when the token has used its calls for this minute, else 0."""
    limit = settings.HEARD["API_RATE_LIMIT_PER_MINUTE"]
    now = time.time()
    window = int(now // 60)
    key = f"api-rate:{token.pk}:{window}"
    try:
        count = 1 if cache.add(key, 1, timeout=70) else cache.incr(key)
    except Exception:  # a cache outage must not stop interactions being recorded
        return 0
    if count > limit:
        return max(1, int(60 - now % 60))
    return 0


def _guard(request):
    """Authenticate, rate-limit and read the JSON body: (token, data) or an error response."""
    token = _authenticate(request)
    if token is None:
        return None, _error(401, {"authorization": ["Send a valid API token: Bearer <token>."]})
    wait = _rate_limited(token)
    if wait:
        limit = settings.HEARD["API_RATE_LIMIT_PER_MINUTE"]
        message = f"At most {limit} calls a minute per token; try again in {wait} s."
        return None, _error(429, {"rate": [message]}, Retry_After=str(wait))
    token.touch(timezone.now())
    try:
        data = json_body_read(request, max_bytes=settings.HEARD["API_MAX_BODY_BYTES"])
    except BodyError as exc:
        return None, _error(exc.status, exc.errors)
    return token, data


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


@csrf_exempt
@require_POST
def interactions(request):
    token, data = _guard(request)
    if token is None:
        return data
    now = timezone.now()
    try:
        item = parse_interaction(data, Lookups(token.org, now=now))
    except InputError as exc:
        return _error(exc.status, exc.errors)
    try:
        [(interaction, created)] = interactions_record(
            org=token.org, items=[item], source=Interaction.Source.API, now=now
        )
    except DataError:
        # Validation should have caught it; say so in the log, not with a 500.
        logger.exception("An interaction passed validation but the database refused it")
        return _error(422, {"body": [REFUSED]})
    return JsonResponse(
        {"interaction": _interaction_json(interaction)}, status=201 if created else 200
    )


@csrf_exempt
@require_POST
def interactions_batch(request):
    token, data = _guard(request)
    if token is None:
        return data
    items = data.get("interactions") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return _error(400, {"interactions": ['Send {"interactions": [ ... ]}.']})
    # Rows are checked one by one below; what's around them (a second "interactions", a NaN)
    # makes the whole body ambiguous.
    problems = json_problems({k: v for k, v in data.items() if k != "interactions"})
    if getattr(data, "duplicates", None):
        problems["interactions" if "interactions" in data.duplicates else "body"] = [
            "A key is given more than once."
        ]
    if problems:
        return _error(400, problems)
    limit = settings.HEARD["API_BATCH_LIMIT"]
    if len(items) > limit:
        return _error(413, {"interactions": [f"At most {limit} interactions per batch."]})
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


@require_GET
def openapi(request):
    return JsonResponse(openapi_schema(), json_dumps_params={"indent": 1})


def openapi_schema() -> dict:
    error = {
        "type": "object",
        "properties": {
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            }
        },
        "required": ["errors"],
    }
    interaction_in = {
        "type": "object",
        "required": ["customer", "touchpoint"],
        "properties": {
            "customer": {
                "type": "object",
                "required": ["email"],
                "properties": {
                    "email": {"type": "string", "format": "email", "maxLength": 254},
                    "name": {"type": "string", "maxLength": 150},
                    "locale": {"type": "string", "maxLength": 20},
                },
            },
            "touchpoint": {"type": "string", "description": "The touchpoint's slug."},
            "staff": {
                "type": "string",
                "format": "email",
                "description": "Email of the member who served the customer.",
            },
            "occurred_at": {
                "type": "string",
                "format": "date-time",
                "description": "Default now. From 2000-01-01T00:00:00Z to one day from now.",
            },
            "reference": {
                "type": "string",
                "maxLength": 200,
                "description": "Your own id. Sending it again returns the same interaction.",
            },
            "metadata": {"type": "object", "description": "Small (at most 4,000 bytes)."},
        },
    }
    interaction_out = {
        "type": "object",
        "properties": {
            "interaction": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "reference": {"type": ["string", "null"]},
                    "touchpoint": {"type": "string"},
                    "customer": {"type": "object"},
                    "occurred_at": {"type": "string", "format": "date-time"},
                    "invitation": {"type": ["object", "null"]},
                },
            }
        },
    }

    def errors(*codes):
        text = {
            400: "Malformed JSON (NaN, a repeated key, not UTF-8, nested too deep), a field "
            "of the wrong type, or an occurred_at before 2000 or more than a day ahead.",
            401: "Missing or invalid API token.",
            404: "Unknown touchpoint.",
            413: "Body too large, or more than 500 interactions.",
            415: "Not sent as Content-Type: application/json (UTF-8).",
            422: "A value that can't be used: email, date, staff member.",
            429: "Rate limit reached; see Retry-After.",
        }
        schema = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        return {str(c): {"description": text[c], "content": schema} for c in codes}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Heard ingest API",
            "version": "1",
            "description": "Tell Heard a customer was served; it asks them a few questions.",
        },
        "servers": [{"url": settings.SITE_URL}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": error,
                "InteractionIn": interaction_in,
                "InteractionOut": interaction_out,
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/interactions": {
                "post": {
                    "summary": "Record one interaction and schedule its survey invitation.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/InteractionIn"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Recorded.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/InteractionOut"}
                                }
                            },
                        },
                        "200": {"description": "That reference was recorded before; unchanged."},
                        **errors(400, 401, 404, 413, 415, 422, 429),
                    },
                }
            },
            "/api/v1/interactions/batch": {
                "post": {
                    "summary": "Record up to 500 interactions; each gets its own status.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["interactions"],
                                    "properties": {
                                        "interactions": {
                                            "type": "array",
                                            "maxItems": 500,
                                            "items": {"$ref": "#/components/schemas/InteractionIn"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Per-item results: status 201, 200 or an error.",
                        },
                        **errors(400, 401, 413, 415, 429),
                    },
                }
            },
        },
    }
