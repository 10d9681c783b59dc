"""The customer's token links (/s/<token>/… here, /f/<token>/… in actions): one lookup and one
answer for a link that opens nothing, so every token page behaves alike for a guesser.

- a wrong link counts against the address's limit (``token_miss_over_limit``, shared by every
  token page); past it, every guess is a 429 with Retry-After, so tokens can't be found by
  trying;
- an unknown link is a 404 with the friendly "link not found" page;
- a link whose page has been retired is a 410 (``gone_page``); each page has its own rule
  (the survey closes when the invitation expires, the status page some time after the
  feedback was settled), so the view decides when, and this module how.
"""

from collections.abc import Callable
from functools import wraps

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.ratelimit import token_miss_over_limit

from . import queries
from .models import Invitation


def miss_page(request) -> HttpResponse:
    """The answer to a link that opens nothing: a 404, or a 429 past the limit of misses."""
    over, retry_after = token_miss_over_limit(request)
    if over:
        page = render(request, "surveys/too_many.html", status=429)
        page["Retry-After"] = str(retry_after)
        return page
    return render(request, "surveys/not_found.html", status=404)


def gone_page(request, template: str, context: dict) -> HttpResponse:
    """The calm 410 of a customer page whose link has been retired."""
    return render(request, template, context, status=410)


def survey_closed_page(request, invitation: Invitation) -> HttpResponse | None:
    """The survey pages' rule: the 410 once the invitation has expired, else None."""
    if invitation.is_expired(timezone.now()):
        return gone_page(request, "surveys/expired.html", {"org": invitation.org})
    return None


def customer_link(
    view=None, *, closed: Callable[..., HttpResponse | None] | None = None
) -> Callable:
    """Decorates a view of a customer's link: ``view(request, invitation, *args)`` runs only
    for a link that opens a page (``queries.invitation_for_token``); any other link gets
    ``miss_page``. ``closed(request, invitation)`` may return the page's 410 instead."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, token, *args, **kwargs):
            invitation = queries.invitation_for_token(token)
            if invitation is None:
                return miss_page(request)
            if closed is not None and (page := closed(request, invitation)) is not None:
                return page
            return view(request, invitation, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
