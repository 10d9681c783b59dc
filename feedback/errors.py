"""What Heard answers when it can't answer: the database is down, or something broke.

People get a calm page, API clients get JSON in the API's own error shape, and neither gets
a word about the internals (exception text names hosts, users and SQL). The full exception
goes to the log instead.

Two routes lead here. An exception in a view reaches ``DatabaseUnavailableMiddleware``; one
raised inside a middleware (the session or membership lookup is often the first query)
never reaches a view's ``process_exception`` and ends in ``handler500``, which looks at the
exception being handled. Both templates render without a database, a request context or
context processors: they are plain files.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils import translation
from django.utils.cache import patch_vary_headers

from surveys import languages

logger = logging.getLogger("heard.errors")

# Long enough for a database restart or failover, short enough for a person to wait.
RETRY_AFTER_SECONDS = 30
DATABASE_ERRORS = (OperationalError, InterfaceError)

UNAVAILABLE_MESSAGE = "Heard is briefly unavailable. Please try again in a minute."
BROKEN_MESSAGE = "Something went wrong on our side. It has been logged; please try again later."
NOT_FOUND_MESSAGE = "Nothing here: check the address."


def _is_api(request) -> bool:
    return request is not None and request.path.startswith("/api/")


def _page(template: str, status: int, request=None) -> HttpResponse:
    """An error page in the visitor's language (the switch, else their browser's): it may be
    a customer who reached it, and there is no customer or business to ask."""
    language = languages.for_visitor(request) if request is not None else None
    try:
        with translation.override(language):
            body = loader.get_template(template).render()
    except Exception:  # a broken template must not turn an error page into a second error
        logger.exception("Could not render %s", template)
        body = f"<!doctype html><title>Heard</title><p>{UNAVAILABLE_MESSAGE}</p>"
    answer = HttpResponse(body, status=status, content_type="text/html; charset=utf-8")
    if language:
        answer["Content-Language"] = language
        patch_vary_headers(answer, ["Accept-Language"])
    return answer


def unavailable_response(request) -> HttpResponse:
    """503 with Retry-After: JSON for the API, the calm page for people."""
    if _is_api(request):
        response = JsonResponse({"errors": {"__all__": [UNAVAILABLE_MESSAGE]}}, status=503)
    else:
        response = _page("503.html", 503, request)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # A proxy or browser must not keep serving the outage page once the database is back.
    response["Cache-Control"] = "no-store"
    return response


def server_error_response(request) -> HttpResponse:
    if _is_api(request):
        response = JsonResponse({"errors": {"__all__": [BROKEN_MESSAGE]}}, status=500)
    else:
        response = _page("500.html", 500, request)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Turns a lost or refused database connection in a view into a 503 with Retry-After."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_ERRORS):
            logger.error("Database unavailable for %s", request.path, exc_info=exception)
            return unavailable_response(request)
        return None  # everything else goes on to Django's logging and handler500


def handler500(request, *args, **kwargs):
    """Django's last resort (urls.handler500). Called while the exception is being handled,
    so ``sys.exc_info`` says whether it was the database."""
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return unavailable_response(request)
    return server_error_response(request)


def handler404(request, exception=None):
    """urls.handler404: JSON for the API, a page in the visitor's language for people."""
    if _is_api(request):
        return JsonResponse({"errors": {"__all__": [NOT_FOUND_MESSAGE]}}, status=404)
    return _page("404.html", 404, request)


def csrf_failure(request, reason=""):
    """settings.CSRF_FAILURE_VIEW: a form sent from a page open too long, or without the
    cookie, says so in the visitor's language instead of Django's technical page."""
    logger.warning("CSRF failure on %s: %s", request.path, reason)
    return _page("403_csrf.html", 403, request)
