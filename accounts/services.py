from django.db import transaction
from django.utils.text import slugify

from .models import Membership, Organisation, User


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "business"
    slug, n = base, 1
    while Organisation.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organisation_create(*, name: str, owner: User, timezone: str = "Europe/London") -> Organisation:
    """Create a business with ``owner`` as its first owner; return it."""
    org = Organisation.objects.create(name=name, slug=_unique_slug(name), timezone=timezone)
    Membership.objects.create(org=org, user=owner, role=Membership.Role.OWNER)
    return org
