"""Heard's API: one django-ninja ``NinjaAPI`` at ``/api/v1/`` that mounts each floor's router
(``surveys.api``: ingest, responses, customers; ``actions.api``: actions), so one OpenAPI
document (``/api/v1/openapi.json``), generated from their typed models, lists every endpoint,
and logged-in owners can try it on an interactive page (``/api/v1/docs``).

Every error, ninja's own included, answers in the API's shape ``{"errors": {"field":
["message"]}}``; anything unexpected is re-raised so ``feedback.errors`` answers the JSON
500 (or the 503 for a database outage) that the rest of Heard gives.
"""

import uuid
from functools import partial

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from ninja import Field, NinjaAPI, Router, Schema, Status, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.views import openapi_view

from accounts import hooks
from accounts.decorators import owner_required
from accounts.models import ApiToken, WebhookEndpoint
from actions import api as actions_api
from surveys import api as surveys_api
from surveys.ingest import InputError
from surveys.jsonbody import BodyError, JsonBodyParser, json_body_read

from . import privacy


class HeardAPI(NinjaAPI):
    def get_content_type(self) -> str:
        # Clients (and the tests) have always seen exactly "application/json": JSON is UTF-8.
        return "application/json"

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        # Request bodies are read by surveys.jsonbody, not by ninja (surveys.api says why), so
        # their models join the components here, where the operations' $refs point.
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in [*surveys_api.REQUEST_MODELS, WebhookIn]:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        return schema


def _docs_only_for_owners(view):
    """ninja wraps both its schema and its docs views in this: the schema is public (as it has
    always been) and GET only; the interactive page is for the business's owners."""
    page = isinstance(view, partial) and view.func is openapi_view
    view = require_GET(view)
    return owner_required(view) if page else view


api = HeardAPI(
    title="Heard API",
    version="1",
    description="Tell Heard a customer was served; read what customers said and what was done.",
    urls_namespace="api",
    servers=[{"url": settings.SITE_URL}],
    parser=JsonBodyParser(),
    docs=Swagger(),
    docs_url="/docs",
    docs_decorator=_docs_only_for_owners,
)
# --- REST hooks: an integration (Zapier and the like) subscribes and unsubscribes itself ------
# The endpoints are accounts.hooks' own: the same events, signing, retries and address checks
# as the ones an owner adds under Settings -> Integrations.

WEBHOOKS = surveys_api.TokenAuth(ApiToken.Scope.WEBHOOKS)
EVENT_NAMES = [str(event) for event in hooks.EVENT_TYPES]


class WebhookIn(Schema):
    url: str = Field(description="An https:// URL on a public address.", max_length=2000)
    events: list[str] = Field(description=" | ".join(EVENT_NAMES), min_length=1)


class WebhookOut(Schema):
    id: surveys_api.Uuid
    url: str
    events: list[str]
    secret: str = Field(description="Signs each delivery (Standard Webhooks); shown only now.")


def _webhook_checked(data) -> tuple[str, list[str]]:
    """The body's url and events, or ApiError naming what's wrong with them."""
    if not isinstance(data, dict) or surveys_api.json_problems(data):
        raise surveys_api.ApiError(400, {"body": ['Send {"url": "https://…", "events": [...]}.']})
    url, events = data.get("url"), data.get("events")
    shape = {}
    if not isinstance(url, str) or not url or len(url) > 2000:
        shape["url"] = ["Send the URL as a string of at most 2,000 characters."]
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        shape["events"] = ["Send a list of event names."]
    if shape:
        raise surveys_api.ApiError(400, shape)
    values = {}
    if problem := hooks.webhook_url_problem(url):
        values["url"] = [problem]
    if unknown := sorted(set(events) - set(EVENT_NAMES)):
        values["events"] = [f"Unknown events: {', '.join(unknown)[:200]}."]
    if values:
        raise surveys_api.ApiError(422, values)
    return url, list(dict.fromkeys(events))


webhooks_router = Router(tags=["webhooks"])


@webhooks_router.post(
    "/webhooks",
    auth=WEBHOOKS,
    url_name="webhooks",
    summary="Subscribe a URL to events; the answer holds its signing secret, once.",
    response={201: WebhookOut} | surveys_api.error_responses(400, 401, 403, 413, 415, 422, 429),
    openapi_extra=surveys_api.request_body(WebhookIn),
)
def webhook_subscribe(request):
    token = request.auth
    data = json_body_read(request, max_bytes=settings.HEARD["API_MAX_BODY_BYTES"])
    url, events = _webhook_checked(data)
    endpoint, secret = hooks.webhook_endpoint_create(
        org=token.org,
        kind=WebhookEndpoint.Kind.WEBHOOK,
        url=url,
        events=events,
        description=f"Subscribed through the API by the token “{token.name}”"[:200],
        touchpoints=[],
        by=token.created_by,
        now=timezone.now(),
    )
    body = {"id": str(endpoint.code), "url": url, "events": events, "secret": secret}
    return Status(201, body)


@webhooks_router.delete(
    "/webhooks/{code}",
    auth=WEBHOOKS,
    url_name="webhook",
    summary="Unsubscribe: delete a webhook of this business by its id.",
    response={204: None} | surveys_api.error_responses(401, 403, 404, 429),
)
def webhook_unsubscribe(request, code: str):
    try:
        key = uuid.UUID(code)
    except ValueError:
        key = None
    endpoint = key and WebhookEndpoint.objects.filter(org=request.auth.org, code=key).first()
    if endpoint is None or key is None:
        raise surveys_api.ApiError(404, {"id": ["This business has no webhook with that id."]})
    hooks.webhook_endpoint_delete(endpoint=endpoint, now=timezone.now())
    return HttpResponse(status=204)


# --- A customer's data (feedback.privacy), scope "privacy" ----------------------------------
# On surveys' read router, because DELETE shares its path with GET /customers/<email> and
# Django dispatches a path to one router; the work is the top floor's, which sees everything.

PRIVACY = surveys_api.TokenAuth(ApiToken.Scope.PRIVACY)
surveys_api.SCOPE_REFUSALS.setdefault(
    ApiToken.Scope.PRIVACY, "This token can't export or erase customers' data."
)


@surveys_api.read_router.get(
    "/customers/{email}/export",
    auth=PRIVACY,
    url_name="customer_export",
    summary="Everything Heard holds about one address in this business, as one JSON object.",
    response={200: dict} | surveys_api.error_responses(401, 403, 404, 429),
)
def customer_export(request, email: str):
    org = request.auth.org
    if not privacy.address_seen(org=org, email=email):
        raise surveys_api.ApiError(404, {"email": ["This business has never known that address."]})
    return privacy.customer_export(
        org=org, email=email, member=None, include_notes=False, now=timezone.now()
    )


@surveys_api.read_router.delete(
    "/customers/{email}",
    auth=PRIVACY,
    url_name="customer_erase",
    summary="Erase one address's data in this business, irreversibly; it is never surveyed again.",
    response={204: None} | surveys_api.error_responses(401, 403, 404, 429),
)
def customer_erase(request, email: str):
    erased = privacy.customer_erase(
        org=request.auth.org,
        email=email,
        member=None,
        now=timezone.now(),
        source=f"API token “{request.auth.name}”"[:200],
    )
    if not erased:
        raise surveys_api.ApiError(404, {"email": ["This business has never known that address."]})
    return HttpResponse(status=204)


api.add_router("/", surveys_api.router)
api.add_router("/", surveys_api.read_router)
api.add_router("/", actions_api.router)
api.add_router("/", webhooks_router)

for _error in (surveys_api.ApiError, BodyError, InputError):
    api.add_exception_handler(_error, surveys_api.error_response)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> JsonResponse:
    message = "Send a valid API token: Bearer <token>."
    return JsonResponse({"errors": {"authorization": [message]}}, status=401)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> JsonResponse:
    # A query parameter of the wrong type (?since=yesterday, ?limit=0): named by its field.
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        field = ".".join(str(part) for part in error.get("loc", ())[1:]) or "__all__"
        field = field.removeprefix("filters.")
        errors.setdefault(field, []).append(error.get("msg", "Not valid."))
    return JsonResponse({"errors": errors}, status=400)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> JsonResponse:
    return JsonResponse({"errors": {"__all__": [str(exc)]}}, status=exc.status_code)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> JsonResponse:
    return JsonResponse({"errors": {"__all__": ["Not found."]}}, status=404)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception):
    # Never ninja's traceback page (it shows one with DEBUG): feedback.errors decides.
    raise exc
