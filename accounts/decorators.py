"""Access rules for logged-in pages. Every view that shows a business's rows uses one of
these, then fetches through ``request.member.org`` so another business's object is a 404."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect


def member_required(view):
    """The user is logged in and belongs to a business; ``request.member`` is theirs."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.member:
            return redirect("accounts:no_business")
        return view(request, *args, **kwargs)

    return wrapper


def owner_required(view):
    """As ``member_required``, and the member is an owner of the business."""

    @wraps(view)
    @member_required
    def wrapper(request, *args, **kwargs):
        if not request.member.is_owner:
            raise PermissionDenied("Only the business's owners can do this.")
        return view(request, *args, **kwargs)

    return wrapper
