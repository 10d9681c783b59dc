import contextlib
import zoneinfo

from allauth.mfa.utils import is_mfa_enabled
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from .models import Membership


def _membership(request):
    user = request.user
    if not user.is_authenticated:
        return None
    return Membership.objects.select_related("org", "user").filter(user=user).first()


class MembershipMiddleware:
    """Puts ``request.member`` (the user's Membership or None) on every request, lazily, and
    shows a member's pages in their organisation's time zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.member = SimpleLazyObject(lambda: _membership(request))
        # Only a logged-in user costs the (cached) membership query; visitors stay on UTC.
        if request.user.is_authenticated and request.member:
            # An unknown zone name must not take the site down: stay on UTC.
            with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.activate(request.member.org.tz)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class RequireMfaMiddleware:
    """In an organisation that requires two-factor authentication, a logged-in member without
    it is sent to set it up before anything else: only the set-up pages, logging out and
    static files stay open (the API uses tokens, not logins)."""

    # Setting up 2FA may first ask for the password again (reauthenticate).
    OPEN_PREFIXES = (
        "/accounts/2fa/",
        "/accounts/reauthenticate/",
        "/accounts/logout/",
        "/static/",
        "/media/",
        "/api/",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._must_set_up(request):
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)

    def _must_set_up(self, request) -> bool:
        if request.path.startswith(self.OPEN_PREFIXES) or request.path == "/healthz":
            return False
        if not request.user.is_authenticated:
            return False
        member = request.member
        if not member or not member.org.require_mfa:
            return False
        return not is_mfa_enabled(request.user)
