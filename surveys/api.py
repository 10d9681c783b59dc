"""The ingest API: plain Django views speaking JSON.

A request writes rows and returns; it never talks to Celery or the broker, so with Redis down
interactions are still accepted and the invitation sweep sends them once it is back.
"""

import json
import time

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import ApiToken

from .ingest import InputError, Lookups, parse_interaction
from .models import Interaction
from .services import interactions_record


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
    max_bytes = settings.HEARD["API_MAX_BODY_BYTES"]
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_bytes or len(request.body) > max_bytes:
        return None, _error(413, {"body": [f"The body is over {max_bytes} bytes."]})
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None, _error(400, {"body": ["The body is not valid JSON."]})
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
    try:
        item = parse_interaction(data, Lookups(token.org))
    except InputError as exc:
        return _error(exc.status, exc.errors)
    [(interaction, created)] = interactions_record(
        org=token.org, items=[item], source=Interaction.Source.API, now=timezone.now()
    )
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
    limit = settings.HEARD["API_BATCH_LIMIT"]
    if len(items) > limit:
        return _error(413, {"interactions": [f"At most {limit} interactions per batch."]})
    lookups = Lookups(token.org)
    parsed, results = [], []
    for index, raw in enumerate(items):
        try:
            parsed.append((index, parse_interaction(raw, lookups)))
        except InputError as exc:
            results.append({"index": index, "status": exc.status, "errors": exc.errors})
    recorded = interactions_record(
        org=token.org,
        items=[item for _, item in parsed],
        source=Interaction.Source.API,
        now=timezone.now(),
    )
    for (index, _), (interaction, created) in zip(parsed, recorded, strict=True):
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
            "occurred_at": {"type": "string", "format": "date-time", "description": "Default now."},
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
            400: "Malformed JSON or a field of the wrong type.",
            401: "Missing or invalid API token.",
            404: "Unknown touchpoint.",
            413: "Body too large, or more than 500 interactions.",
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
                        **errors(400, 401, 404, 413, 422, 429),
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
                        **errors(400, 401, 413, 429),
                    },
                }
            },
        },
    }
