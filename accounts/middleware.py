import contextlib
import zoneinfo

from django.utils import timezone
from django.utils.functional import SimpleLazyObject


def _membership(request):
    user = request.user
    if not user.is_authenticated:
        return None
    from .models import Membership

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
