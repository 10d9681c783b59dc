from django.utils.functional import SimpleLazyObject


def _membership(request):
    user = request.user
    if not user.is_authenticated:
        return None
    from .models import Membership

    return Membership.objects.select_related("org", "user").filter(user=user).first()


class MembershipMiddleware:
    """Puts ``request.member`` (the user's Membership or None) on every request, lazily."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.member = SimpleLazyObject(lambda: _membership(request))
        return self.get_response(request)
