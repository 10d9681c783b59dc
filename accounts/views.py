import mimetypes
import re
from datetime import timedelta

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db.models import Max
from django.db.models.functions import Lower
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import hooks, services
from .decorators import member_required, owner_required
from .forms import (
    ApiTokenForm,
    IntegrationForm,
    JoinForm,
    OrganisationForm,
    ProfileForm,
    RoleForm,
    StaffInviteForm,
    invite_ttl_days,
)
from .models import (
    ApiToken,
    Membership,
    Organisation,
    OutgoingEmail,
    StaffInvite,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

_STORED_NAME = re.compile(r"[\w.-]{1,100}")


def _get_invite_for_member(request, code) -> StaffInvite:
    return get_object_or_404(
        StaffInvite.objects.select_related("org"), org=request.member.org, code=code
    )


def _get_member_for_member(request, code) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("org", "user"), org=request.member.org, code=code
    )


def _get_token_for_member(request, code) -> ApiToken:
    return get_object_or_404(
        ApiToken.objects.select_related("org"), org=request.member.org, code=code
    )


@member_required
@require_http_methods(["GET", "POST"])
def settings_page(request):
    """The Organisation tab: owners edit it, staff read it."""
    org = request.member.org
    if request.method == "POST":
        if not request.member.is_owner:
            raise PermissionDenied("Only the business's owners can change these settings.")
        # A copy: a form that fails validation leaves its values on the instance, and the
        # page's header must keep showing the saved organisation.
        form = OrganisationForm(
            request.POST, request.FILES, instance=Organisation.objects.get(pk=org.pk)
        )
        if (
            form.is_valid()
            and form.cleaned_data["require_mfa"]
            and not org.require_mfa
            and not is_mfa_enabled(request.user)
        ):
            # Otherwise the owner's next click would take them to the set-up page unasked.
            form.add_error("require_mfa", _("Set up two-factor authentication for yourself first."))
        if form.is_valid():
            form.save()
            messages.success(request, _("Saved the organisation settings."))
            return redirect("accounts:settings")
        messages.error(request, _("Please correct the highlighted fields."))
    else:
        form = OrganisationForm(instance=org)
    return render(request, "accounts/settings_org.html", {"org": org, "form": form, "tab": "org"})


#: How far back a bounce to a member's address is worth showing.
MEMBER_BOUNCE_DAYS = 30


def _members_with_bounces(org, now, *, for_owner: bool) -> list[Membership]:
    """The members, each with ``bounced_on``: the latest bounce of Heard's email to their
    address in the last 30 days, or None. One query for the bounces, whatever the team;
    none for staff, who aren't shown them (an owner fixes addresses)."""
    members = list(Membership.objects.filter(org=org).select_related("user"))
    if not for_owner:
        return members
    bounces = dict(
        OutgoingEmail.objects.filter(
            org=org, bounced_at__gte=now - timedelta(days=MEMBER_BOUNCE_DAYS)
        )
        .annotate(address=Lower("to"))
        .filter(address__in=[m.user.email.lower() for m in members])
        .values("address")
        .annotate(latest=Max("bounced_at"))
        .values_list("address", "latest")
    )
    for m in members:
        m.bounced_on = bounces.get(m.user.email.lower())
    return members


def _members_context(request, invite_form=None) -> dict:
    org = request.member.org
    now = timezone.now()
    return {
        "org": org,
        "tab": "members",
        "members": _members_with_bounces(org, now, for_owner=request.member.is_owner),
        "invites": org.staff_invites.pending(now).select_related("invited_by__user")
        if request.member.is_owner
        else [],
        "invite_form": invite_form or StaffInviteForm(),
        "roles": Membership.Role.choices,
        "ttl_days": invite_ttl_days(),
    }


@member_required
@require_http_methods(["GET"])
def members(request):
    return render(request, "accounts/settings_members.html", _members_context(request))


@owner_required
@require_POST
def invite_create(request):
    form = StaffInviteForm(request.POST)
    if form.is_valid():
        result = services.staff_invite_create(
            org=request.member.org,
            invited_by=request.member,
            now=timezone.now(),
            **form.cleaned_data,
        )
        if isinstance(result, services.InviteProblem):
            form.add_error("email", result.message)
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": result.email})
            return redirect("accounts:members")
    context = _members_context(request, invite_form=form)
    return render(request, "accounts/settings_members.html", context, status=200)


@owner_required
@require_POST
def invite_resend(request, code):
    invite = _get_invite_for_member(request, code)
    if invite.accepted_at:
        messages.error(request, _("%(email)s has already joined.") % {"email": invite.email})
    else:
        services.staff_invite_resend(invite=invite, by=request.member, now=timezone.now())
        messages.success(
            request, _("Sent a fresh invitation link to %(email)s.") % {"email": invite.email}
        )
    return redirect("accounts:members")


@owner_required
@require_POST
def invite_revoke(request, code):
    invite = _get_invite_for_member(request, code)
    if services.staff_invite_revoke(invite=invite, now=timezone.now()):
        messages.success(
            request, _("Revoked the invitation for %(email)s.") % {"email": invite.email}
        )
    return redirect("accounts:members")


@owner_required
@require_POST
def member_role(request, code):
    member = _get_member_for_member(request, code)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose owner or staff."))
        return redirect("accounts:members")
    try:
        services.membership_set_role(member=member, role=form.cleaned_data["role"])
    except services.LastOwnerError:
        messages.error(
            request, _("A business needs at least one owner: make someone else an owner first.")
        )
    else:
        messages.success(
            request,
            _("%(name)s is now %(role)s.")
            % {"name": member.display_name, "role": member.get_role_display().lower()},
        )
    if member.pk == request.member.pk and not member.is_owner:
        return redirect("home")
    return redirect("accounts:members")


@owner_required
@require_POST
def member_remove(request, code):
    member = _get_member_for_member(request, code)
    try:
        services.membership_remove(member=member)
    except services.LastOwnerError:
        messages.error(request, _("You can't remove the last owner of the business."))
        return redirect("accounts:members")
    messages.success(
        request,
        _("Removed %(name)s from %(business)s.")
        % {"name": member.display_name, "business": member.org.name},
    )
    if member.user_id == request.user.pk:
        return redirect("accounts:no_business")
    return redirect("accounts:members")


def _tokens_context(request, form=None, secret=None, new_token=None) -> dict:
    org = request.member.org
    return {
        "org": org,
        "tab": "tokens",
        "tokens": ApiToken.objects.filter(org=org).select_related("created_by__user"),
        "form": form or ApiTokenForm(),
        "secret": secret,
        "new_token": new_token,
    }


def _first_use_of_form_key(request, key: str) -> bool:
    if not key:
        return True  # an old form without a key: nothing to compare against
    return cache.add(f"api-token-form:{request.member.org_id}:{key}", 1, timeout=60 * 60 * 24)


@owner_required
@never_cache
@require_http_methods(["GET", "POST"])
def tokens(request):
    """List tokens; POST creates one and shows its secret in this response only."""
    if request.method == "POST":
        form = ApiTokenForm(request.POST)
        if form.is_valid() and not _first_use_of_form_key(request, form.cleaned_data["form_key"]):
            messages.warning(
                request,
                _(
                    "That form was already sent, and the token it made was shown once then. "
                    "Create another if you need one."
                ),
            )
            return redirect("accounts:tokens")
        if form.is_valid():
            token, raw = services.api_token_create(
                org=request.member.org,
                name=form.cleaned_data["name"],
                by=request.member,
                scopes=form.cleaned_data["scopes"],
            )
            context = _tokens_context(request, secret=raw, new_token=token)
            return render(request, "accounts/settings_tokens.html", context, status=201)
        return render(request, "accounts/settings_tokens.html", _tokens_context(request, form=form))
    return render(request, "accounts/settings_tokens.html", _tokens_context(request))


@owner_required
@require_POST
def token_revoke(request, code):
    token = _get_token_for_member(request, code)
    if services.api_token_revoke(token=token, now=timezone.now()):
        messages.success(
            request, _("Revoked “%(name)s”: it no longer works.") % {"name": token.name}
        )
    return redirect("accounts:tokens")


# Integrations: outbound webhooks and chat (accounts.hooks) ----------------------------------

DELIVERY_LOG_LENGTH = 50


def _get_endpoint_for_member(request, code) -> WebhookEndpoint:
    return get_object_or_404(
        WebhookEndpoint.objects.select_related("org"), org=request.member.org, code=code
    )


def _get_delivery_for_member(request, code) -> WebhookDelivery:
    return get_object_or_404(
        WebhookDelivery.objects.select_related("endpoint"), org=request.member.org, code=code
    )


def _integrations_context(request, form=None, secret="", new_endpoint=None) -> dict:
    org = request.member.org
    return {
        "org": org,
        "tab": "integrations",
        "endpoints": WebhookEndpoint.objects.filter(org=org),
        "form": form or IntegrationForm(initial={"kind": WebhookEndpoint.Kind.WEBHOOK}),
        "secret": secret,
        "new_endpoint": new_endpoint,
    }


@owner_required
@never_cache
@require_http_methods(["GET", "POST"])
def integrations(request):
    """List webhooks and chat integrations; POST adds one and shows its secret this once."""
    form = IntegrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        endpoint, secret = hooks.webhook_endpoint_create(
            org=request.member.org, by=request.member, now=timezone.now(), **form.cleaned_data
        )
        context = _integrations_context(request, secret=secret, new_endpoint=endpoint)
        return render(request, "accounts/integrations.html", context, status=201)
    context = _integrations_context(request, form=form if request.method == "POST" else None)
    return render(request, "accounts/integrations.html", context)


def _detail_context(request, endpoint, form=None, secret="") -> dict:
    deliveries = list(
        endpoint.deliveries.select_related("event").order_by("-created_at", "-pk")[
            :DELIVERY_LOG_LENGTH
        ]
    )
    attempts: dict[int, list] = {}
    for attempt in WebhookAttempt.objects.filter(delivery__in=deliveries):
        attempts.setdefault(attempt.delivery_id, []).append(attempt)
    for delivery in deliveries:
        delivery.log = attempts.get(delivery.pk, [])
    initial = {
        "kind": endpoint.kind,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": endpoint.events,
        "touchpoints": ", ".join(endpoint.touchpoints),
    }
    return {
        "org": request.member.org,
        "tab": "integrations",
        "endpoint": endpoint,
        "form": form or IntegrationForm(initial=initial, kind_fixed=True),
        "deliveries": deliveries,
        "secret": secret,
    }


@owner_required
@never_cache
@require_http_methods(["GET", "POST"])
def integration_detail(request, code):
    """One endpoint: edit it, and its delivery log with the test and replay buttons."""
    endpoint = _get_endpoint_for_member(request, code)
    if request.method == "POST":
        data = request.POST.copy()
        data["kind"] = endpoint.kind
        form = IntegrationForm(data, kind_fixed=True, initial={"kind": endpoint.kind})
        if form.is_valid():
            fields = {k: v for k, v in form.cleaned_data.items() if k != "kind"}
            hooks.webhook_endpoint_update(endpoint=endpoint, now=timezone.now(), **fields)
            messages.success(request, _("Saved the integration."))
            return redirect("accounts:integration_detail", code=endpoint.code)
        context = _detail_context(request, endpoint, form=form)
        return render(request, "accounts/integrations_detail.html", context)
    return render(request, "accounts/integrations_detail.html", _detail_context(request, endpoint))


@owner_required
@never_cache
@require_POST
def integration_rotate(request, code):
    endpoint = _get_endpoint_for_member(request, code)
    if endpoint.is_chat:
        raise Http404("Chat integrations have no signing secret.")
    secret = hooks.webhook_endpoint_rotate(endpoint=endpoint, now=timezone.now())
    endpoint.refresh_from_db()
    context = _detail_context(request, endpoint, secret=secret)
    return render(request, "accounts/integrations_detail.html", context)


@owner_required
@require_POST
def integration_switch(request, code):
    endpoint = _get_endpoint_for_member(request, code)
    if request.POST.get("enabled") == "1":
        hooks.webhook_endpoint_switch_on(endpoint=endpoint, now=timezone.now())
        messages.success(request, _("Switched on: new events will be sent."))
    else:
        hooks.webhook_endpoint_switch_off(endpoint=endpoint, now=timezone.now())
        messages.success(request, _("Switched off: nothing is sent until you switch it on."))
    return redirect("accounts:integration_detail", code=endpoint.code)


@owner_required
@require_POST
def integration_delete(request, code):
    endpoint = _get_endpoint_for_member(request, code)
    hooks.webhook_endpoint_delete(endpoint=endpoint, now=timezone.now())
    messages.success(request, _("Deleted the integration to %(host)s.") % {"host": endpoint.host})
    return redirect("accounts:integrations")


@owner_required
@require_POST
def integration_test(request, code):
    endpoint = _get_endpoint_for_member(request, code)
    if not endpoint.enabled:
        messages.error(request, _("Switch it on first: nothing is sent to it while it is off."))
    else:
        hooks.webhook_endpoint_test(endpoint=endpoint, now=timezone.now())
        messages.success(request, _("Test event queued: it is sent within seconds."))
    return redirect("accounts:integration_detail", code=endpoint.code)


@owner_required
@require_POST
def delivery_replay(request, code):
    delivery = _get_delivery_for_member(request, code)
    hooks.webhook_delivery_replay(delivery=delivery, now=timezone.now())
    messages.success(request, _("Queued again, as a new delivery with its own webhook-id."))
    return redirect("accounts:integration_detail", code=delivery.endpoint.code)


@member_required
@require_http_methods(["GET", "POST"])
def profile(request):
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            services.user_set_name(user=request.user, name=form.cleaned_data["name"])
            messages.success(request, _("Saved your name."))
            return redirect("accounts:profile")
    else:
        form = ProfileForm(initial={"name": request.user.name})
    context = {"org": request.member.org, "tab": "profile", "form": form}
    return render(request, "accounts/settings_profile.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def join(request, token):
    """A staff invitation link: GET shows the form, POST creates the member and logs them in."""
    invite = StaffInvite.find(token) if 20 <= len(token) <= 100 else None
    if invite is None:
        return render(request, "accounts/join_invalid.html", {"reason": "unknown"}, status=404)
    now = timezone.now()
    if not invite.is_usable(now):
        reason = "used" if invite.accepted_at else "revoked" if invite.revoked_at else "expired"
        return render(
            request, "accounts/join_invalid.html", {"reason": reason, "invite": invite}, status=410
        )
    form = JoinForm(request.POST or None, email=invite.email, initial={"name": invite.name})
    if request.method == "POST" and form.is_valid():
        member = services.staff_invite_accept(
            invite=invite,
            name=form.cleaned_data["name"],
            password=form.cleaned_data["password1"],
            now=now,
        )
        if member is None:
            context = {"reason": "taken", "invite": invite}
            return render(request, "accounts/join_invalid.html", context, status=410)
        login(request, member.user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request,
            _("Welcome to %(business)s, %(name)s.")
            % {"business": invite.org.name, "name": member.first_name},
        )
        return redirect("home")
    return render(request, "accounts/join.html", {"invite": invite, "form": form})


@require_http_methods(["GET", "HEAD"])
def logo(request, name):
    """Serve an uploaded logo from the media storage.

    Logos are public (emails and the wall show them) and are the only uploads Heard takes, so
    the app serves them itself: a deployment needs no separate media server.
    """
    path = f"logos/{name}"
    if not _STORED_NAME.fullmatch(name) or not Organisation.objects.filter(logo=path).exists():
        raise Http404("No such logo.")
    try:
        handle = default_storage.open(path, "rb")
    except FileNotFoundError:
        raise Http404("No such logo.") from None
    response = FileResponse(handle, content_type=mimetypes.guess_type(name)[0] or "image/png")
    response["Cache-Control"] = "public, max-age=86400"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


@login_required
def no_business(request):
    if request.member:
        return redirect("home")
    return render(request, "accounts/no_business.html")
