import csv
import re
from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csp import get_nonce
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.html import escape
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import owner_required
from accounts.models import AccessRecord, Organisation
from accounts.privacy import access_record
from actions.models import Action
from surveys import languages
from surveys.models import Response, Touchpoint

from . import charts, health, privacy, queries, services, stats, wallcache
from .feeds import WallFeed
from .models import Heartbeat, WallEntry


def home(request):
    if request.user.is_authenticated and request.member:
        return redirect("feedback:dashboard" if request.member.is_owner else "actions:inbox")
    if request.user.is_authenticated:
        return redirect("accounts:no_business")
    return render(request, "feedback/home.html")


@require_GET
@never_cache
def healthz(request):
    db_ok, db_detail = health.database_ok()
    broker_ok, broker_detail = health.broker_ok()
    body = {
        "status": "ok" if db_ok and broker_ok else "unavailable",
        "database": db_detail,
        "broker": broker_detail,
    }
    if db_ok:
        beat = Heartbeat.objects.filter(name="beat").first()
        body["last_heartbeat_seconds_ago"] = (
            round((timezone.now() - beat.beat_at).total_seconds()) if beat else None
        )
    return JsonResponse(body, status=200 if db_ok and broker_ok else 503)


# ---------------------------------------------------------------------------------------------
# The owner's dashboard


def _dashboard_filters(request, org) -> tuple[int, Touchpoint | None, list[Touchpoint]]:
    """The window (7, 30 or 90 days; 30 unless asked) and touchpoint (by slug; all when unknown)
    from the query string, and the organisation's touchpoints for the filter."""
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    if days not in queries.DASHBOARD_WINDOWS:
        days = 30
    touchpoints = list(Touchpoint.objects.filter(org=org).order_by("name"))
    wanted = request.GET.get("touchpoint", "")
    touchpoint = next((t for t in touchpoints if t.slug == wanted), None)
    return days, touchpoint, touchpoints


@owner_required
@require_GET
def dashboard(request):
    org = request.member.org
    days, touchpoint, touchpoints = _dashboard_filters(request, org)
    now = timezone.now()
    context = queries.dashboard(org, days=days, touchpoint=touchpoint, now=now)
    sending, sending_rows = queries.deliverability(
        org, now=now, touchpoints=touchpoints, touchpoint=touchpoint
    )
    context.update(
        sending=sending,
        sending_rows=sending_rows,
        org=org,
        days=days,
        windows=queries.DASHBOARD_WINDOWS,
        touchpoint=touchpoint,
        touchpoints=touchpoints,
        chart=charts.trend_chart(context["trend"]),
        promises_sentence=stats.PROMISES_KEPT_SENTENCE,
        in_force_sentence=stats.IN_FORCE_SENTENCE,
        filter_query=request.GET.urlencode(),
    )
    return render(request, "feedback/dashboard.html", context)


# Cells a spreadsheet would run as a formula (OWASP: CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A cell value a spreadsheet shows as text: a leading apostrophe defuses formulas."""
    text = "" if value is None else str(value)
    text = text.replace("\x00", "")
    return "'" + text if text.startswith(_FORMULA_START) else text


class _Echo:
    def write(self, value):
        return value


def _csv_response(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _iso(moment) -> str:
    return moment.isoformat() if moment else ""


@owner_required
@require_GET
def export_responses(request):
    org = request.member.org
    days, touchpoint, _ = _dashboard_filters(request, org)
    window = stats.window_for(org, days, timezone.now())
    responses = Response.objects.filter(
        org=org, submitted_at__gte=window.start, submitted_at__lt=window.end
    )
    if touchpoint is not None:
        responses = responses.filter(invitation__interaction__touchpoint=touchpoint)
    # Who downloaded customers' data, and which (the access log on the privacy page).
    access_record(
        org=org,
        member=request.member,
        kind=AccessRecord.Kind.CSV_DOWNLOAD,
        detail=f"responses, {days} days" + (f", {touchpoint.name}" if touchpoint else ""),
        now=timezone.now(),
    )
    responses = (
        responses.select_related("customer", "invitation__interaction__touchpoint")
        .prefetch_related("answers__question")
        .order_by("-submitted_at", "-id")
    )

    def rows():
        for response in responses.iterator(chunk_size=1000):
            answers = "; ".join(
                f"{a.question.text}: {a.display_value}"
                for a in sorted(response.answers.all(), key=lambda a: a.question.position)
            )
            yield [
                _iso(response.submitted_at),
                response.invitation.interaction.touchpoint.name,
                response.channel,
                response.customer.name,
                response.customer.email,
                answers,
                response.verbatim,
                "yes" if response.may_quote else "no",
            ]

    header = [
        "submitted_at",
        "touchpoint",
        "channel",
        "customer_name",
        "customer_email",
        "answers",
        "words",
        "may_quote",
    ]
    return _csv_response(f"{org.slug}-responses-{days}d.csv", header, rows())


@owner_required
@require_GET
def export_actions(request):
    org = request.member.org
    days, touchpoint, _ = _dashboard_filters(request, org)
    window = stats.window_for(org, days, timezone.now())
    actions = Action.objects.for_org(org).filter(created_at__gte=window.start)
    if touchpoint is not None:
        actions = actions.filter(touchpoint=touchpoint)
    access_record(
        org=org,
        member=request.member,
        kind=AccessRecord.Kind.CSV_DOWNLOAD,
        detail=f"actions, {days} days" + (f", {touchpoint.name}" if touchpoint else ""),
        now=timezone.now(),
    )
    actions = (
        actions.select_related("owner__user", "touchpoint")
        .prefetch_related("tags")
        .order_by("-created_at", "-id")
    )

    def rows():
        for action in actions.iterator(chunk_size=1000):
            # Blank while open: the promise is neither kept nor broken until it closes.
            # kept_on_time is against the first deadline (the public rule).
            kept = kept_in_force = ""
            if not action.is_open:
                kept = "yes" if action.kept_promise else "no"
                kept_in_force = "yes" if action.kept_promise_in_force else "no"
            yield [
                str(action.code),
                _iso(action.created_at),
                action.get_kind_display(),
                action.get_status_display(),
                action.touchpoint.name if action.touchpoint else "",
                action.owner.display_name if action.owner else "",
                action.words,
                _iso(action.first_due_at),
                _iso(action.due_at),
                _iso(action.closed_at),
                kept,
                action.resolution,
                ", ".join(tag.name for tag in action.tags.all()),
                kept_in_force,
            ]

    header = [
        "code",
        "created_at",
        "kind",
        "status",
        "touchpoint",
        "owner",
        "words",
        "first_due_at",
        "due_at",
        "closed_at",
        "kept_on_time",
        "what_we_did",
        "tags",
        "kept_deadline_in_force",
    ]
    return _csv_response(f"{org.slug}-actions-{days}d.csv", header, rows())


# ---------------------------------------------------------------------------------------------
# Publishing to the wall (any member)


class PublishForm(forms.Form):
    quote = forms.CharField(
        label=gettext_lazy("Quote"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy(
            "The customer's words. You may shorten them or replace parts with “…” or "
            "“[…]”, but never add or change words."
        ),
    )
    what_we_did = forms.CharField(
        label=gettext_lazy("What we did"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=services.MAX_WHAT_WE_DID,
    )


def _get_pair_for_member(request, action_code, invitation_code) -> tuple[Action, Response]:
    org = request.member.org
    action = get_object_or_404(Action.objects.select_related("org"), org=org, code=action_code)
    response = get_object_or_404(
        Response.objects.select_related("customer", "invitation__interaction__touchpoint"),
        org=org,
        invitation__code=invitation_code,
    )
    if response.pk != action.response_id and not action.links.filter(response=response).exists():
        raise Http404("This response is not part of that action.")
    return action, response


def _get_entry_for_member(request, code) -> WallEntry:
    return get_object_or_404(
        WallEntry.objects.select_related("org"), org=request.member.org, code=code
    )


def embed_snippet(org) -> str:
    """The wall's iframe for the business's own site: its title, read aloud to their
    visitors, in the business's default language."""
    url = settings.SITE_URL + reverse("feedback:wall_embed", args=[org.slug])
    with translation.override(org.language_for("")):
        title = gettext("You said, we did: %(name)s") % {"name": org.name}
    return (
        f'<iframe src="{escape(url)}" title="{escape(title)}" '
        'width="100%" height="460" loading="lazy" style="border:0"></iframe>'
    )


@owner_required  # the README's contract: owners publish; staff close loops, not the wall
@require_GET
def wall_manage(request):
    org = request.member.org
    entries = list(queries.live_entries(org).select_related("action")[:100])
    context = {
        "org": org,
        "candidates": queries.publishable(org),
        "entries": entries,
        "snippet": embed_snippet(org),
    }
    return render(request, "feedback/wall_manage.html", context)


@owner_required
def wall_publish(request, action_code, invitation_code):
    action, response = _get_pair_for_member(request, action_code, invitation_code)
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    initial = {"quote": response.verbatim, "what_we_did": action.resolution}
    form = PublishForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.wall_entry_publish(
                action=action,
                response=response,
                quote=form.cleaned_data["quote"],
                what_we_did=form.cleaned_data["what_we_did"],
                member=request.member,
                now=timezone.now(),
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for name, problems in error.message_dict.items():
                    form.add_error(name if name in form.fields else None, problems)
            else:
                form.add_error(None, error.messages)
        else:
            messages.success(request, gettext("Published. It is on your wall now."))
            return redirect("feedback:wall_manage")
    context = {
        "org": action.org,
        "action": action,
        "response": response,
        "form": form,
        "attribution": response.customer.public_name,
        "touchpoint": response.invitation.interaction.touchpoint,
        "may_quote": response.may_quote,
        "is_done": action.status == Action.Status.DONE,
    }
    return render(request, "feedback/wall_publish.html", context)


@owner_required
@require_POST
def wall_unpublish(request, code):
    entry = _get_entry_for_member(request, code)
    services.wall_entry_unpublish(entry=entry, member=request.member, now=timezone.now())
    messages.success(request, gettext("Taken off the wall."))
    return redirect("feedback:wall_manage")


# ---------------------------------------------------------------------------------------------
# The public wall: cached per organisation (see wallcache), no login, no cookies.

WALL_PAGE_SIZE = 20
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,60}$")


def _public_context(org) -> dict:
    # Cached HTML is shared by every visitor: it must carry nothing of the visitor who happened
    # to render it (no CSRF token, flash messages, user or membership), and the CSP nonce is a
    # placeholder swapped for this request's nonce when the page is served.
    return {
        "org": org,
        "current_org": org,
        "csrf_token": "",
        "member": None,
        "messages": [],
        "user": AnonymousUser(),
        "perms": None,
        "request": None,
        "csp_nonce": wallcache.NONCE_PLACEHOLDER,
    }


def _render_public(template: str, context: dict, org, language: str | None = None) -> str:
    """Render a cached public page. No request, so no context processor adds (or, for flash
    messages, consumes) anything of this visitor's; times in the organisation's zone, whoever
    renders it first; in ``language`` (else the organisation's default), which is part of
    the page's cache key."""
    language = language or org.language_for("")
    with timezone.override(org.tz), translation.override(language):
        return render_to_string(template, _public_context(org) | context)


def _wall_language(request) -> str | None:
    """The visitor's language for the wall (the switch, then the browser's); None for the
    organisation's default, decided when the page is built."""
    return languages.chosen(request) or languages.from_browser(request)


def _wall_switch(request, path: str, language: str | None, org) -> list[dict]:
    # Built from the path alone: the cached page must not carry the visitor's other query.
    links = languages.switch_links(request, language or org.language_for(""))
    return [link | {"url": f"{path}?{languages.PARAM}={link['code']}"} for link in links]


def _serve_in(request, parts: tuple[bytes, ...], language: str | None) -> HttpResponse:
    answer = _serve(request, parts)
    if language:
        answer["Content-Language"] = language
    patch_vary_headers(answer, ["Accept-Language"])
    return answer


def _cacheable(html: str) -> tuple[bytes, ...]:
    """The page as bytes, cut where this request's nonce goes: serving it is one join."""
    return tuple(html.encode().split(wallcache.NONCE_PLACEHOLDER.encode()))


def _serve(request, parts: tuple[bytes, ...]) -> HttpResponse:
    return HttpResponse(str(get_nonce(request)).encode().join(parts))


def _wall_figures(org):
    window = stats.window_for(org, queries.WALL_WINDOW_DAYS, timezone.now())
    return queries.figures(org, window)


@require_GET
def wall(request, slug):
    try:
        number = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        number = 1
    wanted = request.GET.get("touchpoint", "")
    wanted = wanted if _SLUG.match(wanted) else ""

    def build(org):
        touchpoint = None
        if wanted:
            touchpoint = Touchpoint.objects.filter(org=org, slug=wanted).first()
            if touchpoint is None:
                raise Http404("No such touchpoint.")
        paginator = Paginator(queries.live_entries(org, touchpoint), WALL_PAGE_SIZE)
        try:
            page = paginator.page(number)
        except (EmptyPage, PageNotAnInteger):
            raise Http404("No such page.") from None
        context = {
            "page": page,
            "touchpoint": touchpoint,
            "touchpoints": queries.wall_touchpoints(org),
            "figures": _wall_figures(org),
            "promises_sentence": stats.PROMISES_KEPT_SENTENCE,
            "site_url": settings.SITE_URL,
            "language_switch": _wall_switch(request, request.path, language, org),
        }
        html = _render_public("feedback/wall.html", context, org, language)
        return _cacheable(html), [entry.response_id for entry in page]

    language = _wall_language(request)
    html = wallcache.cached_wall(slug, f"page:{number}:{wanted}:{language or ''}", build)
    return _serve_in(request, html, language)


def _frameable(view):
    """Any site may put this page in an iframe: no X-Frame-Options, and a CSP whose
    frame-ancestors allows every origin. The site-wide policy stays as it is otherwise."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        config = {**settings.SECURE_CSP, "frame-ancestors": ["*"]}
        return csp_override(config)(view)(request, *args, **kwargs)

    return xframe_options_exempt(wrapper)


@require_GET
@_frameable
def wall_embed(request, slug):
    def build(org):
        entries = list(queries.live_entries(org)[:3])
        context = {
            "entries": entries,
            "figures": _wall_figures(org),
            "site_url": settings.SITE_URL,
        }
        html = _render_public("feedback/wall_embed.html", context, org, language)
        return _cacheable(html), [entry.response_id for entry in entries]

    language = _wall_language(request)
    html = wallcache.cached_wall(slug, f"embed:{language or ''}", build)
    return _serve_in(request, html, language)


@require_GET
def wall_feed(request, slug):
    def build(org):
        feed = WallFeed()
        with timezone.override(org.tz):
            response = feed(request, slug=slug)
        return (response.content, response["Content-Type"]), [e.response_id for e in feed.shown]

    # One cached copy per language asked for (?lang=; none is the business's default).
    language = languages.chosen(request)
    content, content_type = wallcache.cached_wall(slug, f"feed:{language or ''}", build)
    return HttpResponse(content, content_type=content_type)


# ---------------------------------------------------------------------------------------------
# Privacy: a customer's data, found, exported and erased by owners; the public privacy page.


class PrivacyEraseForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("Email"))
    confirm = forms.CharField(
        label=gettext_lazy("Type the address again to confirm"), max_length=254
    )

    def clean(self):
        data = super().clean()
        email, confirm = data.get("email", ""), data.get("confirm", "")
        if email and confirm.strip().lower() != email.strip().lower():
            self.add_error("confirm", gettext("Type the customer's address exactly to confirm."))
        return data


@owner_required
@require_GET
def privacy_manage(request):
    """Find a customer by address (every search is logged), export or erase them, and see who
    looked. Searching is a GET (a bookmarkable lookup); it writes only the access log."""
    org = request.member.org
    email = request.GET.get("email", "").strip()
    found = None
    if email:
        try:
            email = forms.EmailField().clean(email)
        except ValidationError:
            messages.error(request, gettext("That doesn't look like an email address."))
            email = ""
        if email:
            found = privacy.customer_search(
                org=org, email=email, member=request.member, now=timezone.now()
            )
    log = AccessRecord.objects.filter(org=org).select_related("member__user")[:100]
    return render(
        request,
        "feedback/privacy.html",
        {"org": org, "email": email, "found": found, "log": log, "erase_form": PrivacyEraseForm()},
    )


@owner_required
@require_POST
def privacy_export(request):
    org = request.member.org
    email = request.POST.get("email", "").strip()
    if not privacy.address_seen(org=org, email=email):
        raise Http404("Heard has nothing about that address.")
    data = privacy.customer_export(
        org=org,
        email=email,
        member=request.member,
        include_notes=request.POST.get("include_notes") == "yes",
        now=timezone.now(),
    )
    answer = JsonResponse(data, json_dumps_params={"indent": 2, "ensure_ascii": False})
    answer["Content-Disposition"] = f'attachment; filename="{org.slug}-customer-export.json"'
    return answer


@owner_required
@require_POST
def privacy_erase(request):
    org = request.member.org
    form = PrivacyEraseForm(request.POST)
    if not form.is_valid():
        for problems in form.errors.values():
            for problem in problems:
                messages.error(request, problem)
        return redirect(reverse("feedback:privacy") + "?" + _query(email=request.POST.get("email")))
    done = privacy.customer_erase(
        org=org, email=form.cleaned_data["email"], member=request.member, now=timezone.now()
    )
    if done:
        messages.success(
            request,
            gettext(
                "Erased. Heard no longer holds anything that identifies this customer, and "
                "will never survey the address again."
            ),
        )
    else:
        messages.error(request, gettext("Heard has nothing about that address."))
    return redirect("feedback:privacy")


def _query(**params) -> str:
    return urlencode({k: v for k, v in params.items() if v})


def _privacy_org(request) -> Organisation | None:
    """The business a public privacy page is about (``?business=<slug>``), looked up once."""
    if not hasattr(request, "privacy_org"):
        slug = request.GET.get("business", "")
        found = Organisation.objects.filter(slug=slug).first() if _SLUG.match(slug) else None
        request.privacy_org = found
    return request.privacy_org


@require_GET
@languages.in_language(
    lambda request: languages.for_visitor(request, _privacy_org(request)), varies=True
)
def privacy_public(request):
    """What Heard stores for one business, why, for how long and whom to ask: public, from the
    business's settings, linked from every survey email and customer page, in the customer's
    language (the link carries it) or the visitor's."""
    org = _privacy_org(request)
    if org is None:
        raise Http404("No such business.")
    owners = [m.user.email for m in org.owners()]
    context = {
        "org": org,
        "contact": org.reply_to or (owners[0] if owners else ""),
        "retention_months": org.retention_months,
    }
    return render(request, "feedback/privacy_public.html", context)
