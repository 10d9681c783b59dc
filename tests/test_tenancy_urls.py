"""Every URL that names an object has an outsider check.

The URL patterns come from the resolver itself (recursively, namespaces included), so a new
URL with a parameter fails here until someone decides how it is protected:

- it is exercised by ``OBJECT_URLS`` in ``tests/test_tenancy.py``, or by ``MORE_OBJECT_URLS``
  below (both are run here with ``assert_404_for_outsider``: business A's owner asks for
  business B's object and must get a 404); or
- it is on ``PUBLIC`` below, with the reason why no logged-in tenancy applies to it.
"""

import re
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone

from actions.models import ActionEvent, Cause, RoutingRule
from feedback.models import WallEntry
from tests.factories import make_customer, make_invitation, make_response, make_touchpoint
from tests.feedback.helpers import make_action
from tests.tenancy import assert_404_for_outsider
from tests.test_tenancy import OBJECT_URLS, b_objects  # noqa: F401 - b_objects is a fixture

# Patterns with a parameter that no member's session protects, by design. Each names why.
PUBLIC = {
    # The customer's own pages: the unguessable invitation token is the only key (no login).
    "s/<str:token>/": "survey page, opened from the email",
    "s/<str:token>/thanks/": "survey thank-you page",
    "s/<str:token>/unsubscribe/": "unsubscribe (RFC 8058 one-click)",
    "f/<str:token>/": "the customer's status page",
    "f/<str:token>/consent/": "the customer withdraws consent to be quoted",
    "f/<str:token>/sorted/": "'Did this sort it out?'",
    "f/<str:token>/still-sorted/": "'Is it still sorted?', weeks after a yes",
    # A touchpoint's public link (QR poster, website, kiosk): its random code is the key, and
    # anyone may answer; the confirmation link for an address given there is a token.
    "t/<str:code>/": "a touchpoint's public survey link",
    "t/<str:code>/thanks/": "the public link's thank-you page",
    "t/hear-back/<str:token>/": "confirming an address given on the public link",
    # A staff invitation link: the token is the key, and the person has no login yet.
    "join/<str:token>/": "accepting a staff invitation",
    # The public wall, its feed and embed: public by the business's choice, by slug.
    "wall/<slug:slug>/": "the public wall",
    "wall/<slug:slug>/feed/": "the wall's Atom feed",
    "wall/<slug:slug>/embed/": "the wall for an iframe",
    # Uploaded logos: shown in customers' emails and on public pages; names are random.
    "media/logos/<str:name>": "a business's logo",
    # django-allauth's emailed links: the key is the secret, no session involved.
    r"accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": "password reset link",
    r"accounts/^confirm-email/(?P<key>[-:\w]+)/$": "email verification link",
}
# Whole trees that are not tenant-scoped at all.
PUBLIC_PREFIXES = {
    "admin/": "Django admin: superusers only, across every business by design",
    "^media/": "django.conf.urls.static: serving MEDIA_ROOT in development (DEBUG) only",
    "^static/": "static files (whitenoise serves them in production, not a URL pattern)",
    # No member session: a bearer token names the business, and every endpoint is checked
    # against another business's token in tests/surveys/test_read_api.py,
    # tests/actions/test_read_api.py and tests/surveys/test_api.py.
    "api/v1/": "the API: tenancy by token, not by session",
    "webhooks/anymail/": "email providers' webhooks: basic auth and signatures, no session",
}


@pytest.fixture
def b_world(request, other_org, outsider):
    """Business B's objects beyond the settings ones: a survey, touchpoint, rule, action,
    invitation and wall entry, each named by some URL."""
    settings_objects = request.getfixturevalue("b_objects")  # from tests/test_tenancy.py
    touchpoint = make_touchpoint(other_org, slug="beta-visit", default_owner=outsider)
    survey = touchpoint.survey
    question = survey.current_version().questions.order_by("position").first()
    invitation = make_invitation(touchpoint, customer=make_customer(other_org))
    response = make_response(invitation, answers={0: False}, verbatim="Too slow.", consent=True)
    action = make_action(
        other_org, response, status="done", closed_ago=timedelta(days=1), resolution="Sped up."
    )
    rule = RoutingRule.objects.create(
        org=other_org,
        condition=RoutingRule.Condition.ANY_NO,
        owner_strategy=RoutingRule.OwnerStrategy.TOUCHPOINT_OWNER,
    )
    entry = WallEntry.objects.create(
        org=other_org,
        action=action,
        response=response,
        quote="Too slow.",
        original_quote="Too slow.",
        attribution="Pat J.",
        month=timezone.now().date().replace(day=1),
        what_we_did="Sped up.",
        published_by=outsider,
    )
    return {
        **settings_objects,
        "touchpoint": touchpoint,
        "survey": survey,
        "question": question,
        "invitation": invitation,
        "action": action,
        "rule": rule,
        "entry": entry,
        "cause": Cause.objects.create(org=other_org, name="Parts out of stock"),
    }


@pytest.fixture
def a_world(org, owner):
    """Business A's own survey and action, to mix with B's codes in two-parameter URLs."""
    touchpoint = make_touchpoint(org, slug="alpha-visit", default_owner=owner)
    invitation = make_invitation(touchpoint)
    response = make_response(invitation, answers={0: False}, verbatim="Fine.", consent=True)
    action = make_action(org, response, status="done", closed_ago=timedelta(days=1))
    return {"survey": touchpoint.survey, "action": action, "invitation": invitation}


# (method, builder(b, a)) for object URLs tests/test_tenancy.py does not list yet. The method
# is one the view accepts: another method would be a 405 before any object is looked up.
MORE_OBJECT_URLS = [
    ("post", lambda b, a: f"/actions/causes/{b['cause'].code}/"),
    ("get", lambda b, a: f"/surveys/touchpoints/{b['touchpoint'].code}/"),
    ("post", lambda b, a: f"/surveys/touchpoints/{b['touchpoint'].code}/"),
    ("get", lambda b, a: f"/surveys/touchpoints/{b['touchpoint'].code}/qr.svg"),
    ("get", lambda b, a: f"/surveys/touchpoints/{b['touchpoint'].code}/qr.png"),
    ("get", lambda b, a: f"/surveys/touchpoints/{b['touchpoint'].code}/poster/"),
    ("post", lambda b, a: f"/surveys/touchpoints/{b['touchpoint'].code}/rotate/"),
    (
        "post",
        lambda b, a: (
            f"/surveys/touchpoints/{b['touchpoint'].code}/held/{b['invitation'].code}/release/"
        ),
    ),
    ("get", lambda b, a: f"/surveys/{b['survey'].code}/"),
    ("post", lambda b, a: f"/surveys/{b['survey'].code}/"),
    ("post", lambda b, a: f"/surveys/{b['survey'].code}/questions/"),
    ("post", lambda b, a: f"/surveys/{b['survey'].code}/questions/{b['question'].key}/"),
    ("post", lambda b, a: f"/surveys/{b['survey'].code}/questions/{b['question'].key}/move/"),
    ("post", lambda b, a: f"/surveys/{b['survey'].code}/questions/{b['question'].key}/delete/"),
    # My survey, their question: the key must be looked up inside my survey.
    ("post", lambda b, a: f"/surveys/{a['survey'].code}/questions/{b['question'].key}/"),
    ("post", lambda b, a: f"/surveys/{a['survey'].code}/questions/{b['question'].key}/move/"),
    ("post", lambda b, a: f"/surveys/{a['survey'].code}/questions/{b['question'].key}/delete/"),
    ("get", lambda b, a: f"/surveys/{b['survey'].code}/preview/"),
    ("get", lambda b, a: f"/surveys/{b['survey'].code}/preview/email/"),
    ("get", lambda b, a: f"/surveys/{b['survey'].code}/preview/email.html"),
    ("get", lambda b, a: f"/actions/rules/{b['rule'].code}/"),
    ("post", lambda b, a: f"/actions/rules/{b['rule'].code}/"),
    ("post", lambda b, a: f"/actions/rules/{b['rule'].code}/move/"),
    ("post", lambda b, a: f"/actions/rules/{b['rule'].code}/toggle/"),
    ("get", lambda b, a: f"/actions/{b['action'].code}/"),
    ("post", lambda b, a: f"/actions/{b['action'].code}/note/"),
    ("post", lambda b, a: f"/actions/{b['action'].code}/reassign/"),
    ("post", lambda b, a: f"/actions/{b['action'].code}/deadline/"),
    ("post", lambda b, a: f"/actions/{b['action'].code}/status/"),
    ("post", lambda b, a: f"/actions/{b['action'].code}/tags/"),
    ("post", lambda b, a: f"/actions/{b['action'].code}/close/"),
    ("post", lambda b, a: f"/actions/{b['action'].code}/link/"),
    ("get", lambda b, a: f"/actions/{b['action'].code}/tell/"),
    ("post", lambda b, a: f"/actions/{b['action'].code}/tell/"),
    ("get", lambda b, a: f"/dashboard/wall/publish/{b['action'].code}/{b['invitation'].code}/"),
    ("post", lambda b, a: f"/dashboard/wall/publish/{b['action'].code}/{b['invitation'].code}/"),
    # My action, their invitation (and the other way round).
    ("post", lambda b, a: f"/dashboard/wall/publish/{a['action'].code}/{b['invitation'].code}/"),
    ("post", lambda b, a: f"/dashboard/wall/publish/{b['action'].code}/{a['invitation'].code}/"),
    ("post", lambda b, a: f"/dashboard/wall/entries/{b['entry'].code}/unpublish/"),
]


def _walk(patterns, prefix="", namespace=""):
    """(route, name, parameter names) for every URL pattern, recursively."""
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if ns and namespace and entry.namespace:
                ns = f"{namespace}:{entry.namespace}"
            yield from _walk(entry.url_patterns, route, ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield route, name, _parameters(route)


def _parameters(route: str) -> list[str]:
    """Parameter names in a route: <conv:name> or <name>, and regex (?P<name>…) groups."""
    names = re.findall(r"<(?:[^>:]+:)?([^>]+)>", route)
    names += re.findall(r"\(\?P<([^>]+)>", route)
    # A regex route's unnamed capture groups are parameters too.
    names += ["<unnamed>"] * len(re.findall(r"\((?!\?)", route))
    return list(dict.fromkeys(names))


def all_patterns() -> list[tuple[str, str, list[str]]]:
    return list(_walk(get_resolver().url_patterns))


def _route_of(url: str) -> str:
    try:
        return resolve(url.split("?")[0]).route
    except Resolver404:
        return f"(resolves to nothing: {url})"


def _public(route: str) -> bool:
    return route in PUBLIC or route.startswith(tuple(PUBLIC_PREFIXES))


def test_the_walk_finds_the_urls_we_know():
    routes = {route for route, _, _ in all_patterns()}
    names = {name for _, name, _ in all_patterns()}
    assert "actions/<uuid:code>/" in routes
    assert "settings/members/<uuid:code>/role/" in routes
    assert "actions:detail" in names  # namespaced
    assert any(route.startswith("admin/") for route in routes)  # nested includes
    assert any(route.startswith("accounts/") for route in routes)


def test_every_url_naming_an_object_has_an_outsider_check(b_world, a_world):
    covered = {_route_of(build(b_world)) for _, build in OBJECT_URLS}
    covered |= {_route_of(build(b_world, a_world)) for _, build in MORE_OBJECT_URLS}
    unchecked = [
        f"{route}  (name {name!r}, parameters {params})"
        for route, name, params in all_patterns()
        if params and route not in covered and not _public(route)
    ]
    assert not unchecked, (
        "These URLs name an object but nothing checks that another business gets a 404: add "
        "them to OBJECT_URLS in tests/test_tenancy.py, or to PUBLIC here with the reason:\n"
        + "\n".join(unchecked)
    )


def test_every_builder_names_a_real_url(b_world, a_world):
    built = [build(b_world) for _, build in OBJECT_URLS]
    built += [build(b_world, a_world) for _, build in MORE_OBJECT_URLS]
    assert not [url for url in built if _route_of(url).startswith("(resolves to nothing")]


def test_the_public_list_has_no_stale_entries():
    routes = {route for route, _, _ in all_patterns()}
    assert not sorted(set(PUBLIC) - routes), "PUBLIC names routes that no longer exist"


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_outsider_gets_404_for_every_covered_url(owner_client, b_world, a_world, method):
    urls = [build(b_world) for m, build in OBJECT_URLS if m == method]
    urls += [build(b_world, a_world) for m, build in MORE_OBJECT_URLS if m == method]
    if urls:
        assert_404_for_outsider(owner_client, urls, method=method)


def test_nothing_of_business_b_changed_after_the_outsiders_posts(owner_client, b_world, a_world):
    events = ActionEvent.objects.filter(action=b_world["action"]).count()
    for method, build in MORE_OBJECT_URLS:
        if method == "post":
            owner_client.post(build(b_world, a_world), {"text": "x", "note": "x", "position": 0})
    b = b_world
    b["rule"].refresh_from_db()
    b["entry"].refresh_from_db()
    b["action"].refresh_from_db()
    assert b["rule"].active is True
    assert b["entry"].unpublished_at is None
    assert ActionEvent.objects.filter(action=b["action"]).count() == events
    assert b["action"].status == "done"
    assert b["survey"].current_version().questions.count() == 4
