"""The one language of each customer page (README, "Languages").

Heard has no LocaleMiddleware: staff screens stay in ``LANGUAGE_CODE``, and each customer page
picks its language here, renders inside ``translation.override`` and says which in its
``Content-Language`` header, so no page mixes two. The order:

1. ``?lang=fr``, the visible language switch: a GET that records nothing (mail scanners open
   every link), carried by the page's own links and forms until the customer answers, when
   the answering view stores it on the customer (``customer_language_remember``);
2. the customer's stored ``Customer.locale`` (token pages), or the browser's
   ``Accept-Language`` (public links, the wall, a link that opens nothing);
3. the organisation's ``default_language``, then ``LANGUAGE_CODE``.
"""

import re
from functools import wraps

from django.conf import settings
from django.template.response import SimpleTemplateResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext
from django.utils.translation import gettext_noop as N_
from django.utils.translation.trans_real import parse_accept_lang_header

from . import tokens

PARAM = "lang"
# The survey's default comment prompt (SurveyVersion.free_text_prompt), and the one-click
# labels (Question.one_click_options): English in the rows, shown through the catalogues.
N_("Anything we could do better?")
N_("Yes")
N_("No")
# RFC 5646's shape, loosely: a 2–3 letter language, then subtags of 1–8 letters or digits.
# "fr", "fr-CA", "es-419", "zh-Hant-TW", "sr-Latn-RS" pass; "french", "fr_FR!", "" don't.
BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def shown(text: str) -> str:
    """A survey's own text in the active language: the catalogue's translation of a text the
    owner left as Heard wrote it (the question library, the default prompt, Yes and No), else
    the text as written."""
    return gettext(text) if text else ""


def supported(tag: str | None) -> str | None:
    """The shipped language for a BCP 47 tag ("fr-CA" is "fr", "FR" is "fr"), or None."""
    tag = (tag or "").strip().replace("_", "-").lower()
    if not tag or len(tag) > 35:
        return None
    try:
        return translation.get_supported_language_variant(tag)
    except LookupError:
        return None


def is_language_tag(tag: str) -> bool:
    """Whether ``tag`` is shaped like a BCP 47 language tag (shipped by Heard or not)."""
    return bool(BCP47.match(tag.strip().replace("_", "-"))) and len(tag.strip()) <= 20


def chosen(request) -> str | None:
    """The language the customer picked with the switch on this very request."""
    return supported(request.GET.get(PARAM))


def from_browser(request) -> str | None:
    header = request.headers.get("Accept-Language", "")
    for tag, _quality in parse_accept_lang_header(header[:500]):
        if tag != "*" and (language := supported(tag)):
            return language
    return None


def for_customer(request, org, customer=None) -> str:
    """A token page's language: the switch, the customer's own, the business's default."""
    return chosen(request) or org.language_for(getattr(customer, "locale", ""))


def for_visitor(request, org=None) -> str:
    """A page without a known customer: the switch, the browser's, the business's default."""
    language = chosen(request) or from_browser(request)
    if language:
        return language
    if org is not None:
        return org.language_for("")
    return supported(settings.LANGUAGE_CODE) or "en"


def switch_links(request, current: str) -> list[dict]:
    """The language switch: one GET link per shipped language, keeping the page's query."""
    links = []
    for code, name in settings.LANGUAGES:
        query = request.GET.copy()
        query[PARAM] = code
        links.append(
            {
                "code": code,
                "name": name,
                "url": f"{request.path}?{query.urlencode()}",
                "current": code == current,
            }
        )
    return links


def query_keep(request) -> str:
    """``?lang=xx`` to append to the page's own links and forms while the switch is in use."""
    language = chosen(request)
    return f"?{PARAM}={language}" if language else ""


def in_language(pick, *, varies=False):
    """Render a customer view in the language ``pick(request, *args, **kwargs)`` returns.

    ``varies`` says the choice read ``Accept-Language``, so caches must keep one copy per
    language. The view's response is rendered inside the override (a lazy template
    response too), and the language is left as it was afterwards, even on an error."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            language = pick(request, *args, **kwargs)
            with translation.override(language):
                request.language_switch = switch_links(request, language)
                response = view(request, *args, **kwargs)
                if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
                    response.render()
            response.setdefault("Content-Language", language)
            if varies:
                patch_vary_headers(response, ["Accept-Language"])
            return response

        return wrapper

    return decorate


def customer_language_remember(customer, language: str | None) -> None:
    """Store the language the customer chose once they have answered in it."""
    if language and supported(customer.locale) != language:
        type(customer).objects.filter(pk=customer.pk).update(locale=language)
        customer.locale = language


def _visitor(request, *args, **kwargs):
    return for_visitor(request)


def _invitation(request, invitation, *args, **kwargs):
    return for_customer(request, invitation.org, invitation.customer)


def customer_page(view=None, *, closed=None):
    """``tokens.customer_link`` in the right language: the page (and its 410 from ``closed``)
    in the customer's, a link that opens nothing (404, 429) in the visitor's."""

    def closed_in_language(request, invitation):
        with translation.override(_invitation(request, invitation)):
            return closed(request, invitation)

    def decorate(view):
        view = in_language(_invitation)(view)
        view = tokens.customer_link(closed=closed_in_language if closed else None)(view)
        return in_language(_visitor, varies=True)(view)

    return decorate(view) if view is not None else decorate
