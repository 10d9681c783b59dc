"""Heard's API: one django-ninja ``NinjaAPI`` at ``/api/v1/`` that mounts each floor's router
(``surveys.api``: ingest, responses, customers; ``actions.api``: actions), so one OpenAPI
document (``/api/v1/openapi.json``), generated from their typed models, lists every endpoint,
and logged-in owners can try it on an interactive page (``/api/v1/docs``).

Every error, ninja's own included, answers in the API's shape ``{"errors": {"field":
["message"]}}``; anything unexpected is re-raised so ``feedback.errors`` answers the JSON
500 (or the 503 for a database outage) that the rest of Heard gives.
"""

from functools import partial

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.views import openapi_view

from accounts.decorators import owner_required
from actions import api as actions_api
from surveys import api as surveys_api
from surveys.ingest import InputError
from surveys.jsonbody import BodyError, JsonBodyParser


class HeardAPI(NinjaAPI):
    def get_content_type(self) -> str:
        # Clients (and the tests) have always seen exactly "application/json": JSON is UTF-8.
        return "application/json"

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        # Request bodies are read by surveys.jsonbody, not by ninja (surveys.api says why), so
        # their models join the components here, where the operations' $refs point.
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in surveys_api.REQUEST_MODELS:
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
api.add_router("/", surveys_api.router)
api.add_router("/", surveys_api.read_router)
api.add_router("/", actions_api.router)

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
