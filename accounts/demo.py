"""The demo business's people and API token. Idempotent: running it again changes nothing."""

import hashlib
import hmac
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.conf import settings

from .models import ApiToken, Membership, Organisation, User, _hash_secret

ORG_SLUG = "spokes"
PASSWORD = "heard-demo-2026"
PEOPLE = [
    ("owner@spokes.example", "Robin Ashdown", Membership.Role.OWNER),
    ("sam@spokes.example", "Sam Okafor", Membership.Role.STAFF),
    ("priya@spokes.example", "Priya Nair", Membership.Role.STAFF),
]


@dataclass
class DemoPeople:
    org: Organisation
    owner: Membership
    staff: list[Membership]
    api_token: str


def _demo_token() -> str:
    # Derived from SECRET_KEY, so every run prints the same token without storing it.
    digest = hmac.new(settings.SECRET_KEY.encode(), b"heard-demo-api-token", hashlib.sha256)
    return ApiToken.PREFIX + digest.hexdigest()[:40]


def seed() -> DemoPeople:
    org, _ = Organisation.objects.get_or_create(
        slug=ORG_SLUG,
        defaults={
            "name": "Spokes & Sprockets",
            "timezone": "Europe/London",
            "brand_colour": "#1f6f5c",
            "sender_name": "Spokes & Sprockets",
            "reply_to": "hello@spokes.example",
            "wall_enabled": True,
        },
    )
    members = []
    for email, name, role in PEOPLE:
        user, created = User.objects.get_or_create(email=email, defaults={"name": name})
        if created or not user.check_password(PASSWORD):
            user.set_password(PASSWORD)
            user.save()
        member, _ = Membership.objects.get_or_create(user=user, defaults={"org": org, "role": role})
        members.append(member)
        _verify_email(user)
    raw = _demo_token()
    # Every scope, so the demo's token tries the whole API; a token made before scopes
    # existed gets them on the next run.
    every = [scope.value for scope in ApiToken.Scope]
    token = ApiToken.objects.filter(token_hash=_hash_secret(raw)).first()
    if token is None:
        ApiToken.objects.create(
            org=org,
            name="Demo till integration",
            hint=raw[:10],
            token_hash=_hash_secret(raw),
            created_by=members[0],
            scopes=every,
        )
    elif token.scopes != every:
        ApiToken.objects.filter(pk=token.pk).update(scopes=every)
    return DemoPeople(org=org, owner=members[0], staff=members[1:], api_token=raw)


def _verify_email(user) -> None:
    EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
