"""Writes about businesses, their members, staff invitations and API tokens."""

from dataclasses import dataclass
from datetime import datetime

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext

from .mail import email_queue
from .models import ApiToken, Membership, Organisation, StaffInvite, User


class LastOwnerError(Exception):
    """The business would be left without an owner."""


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


def _send_invite_email(invite: StaffInvite, raw_token: str) -> None:
    link = settings.SITE_URL + reverse("accounts:join", args=[raw_token])
    inviter = invite.invited_by.display_name if invite.invited_by else invite.org.name
    email_queue(
        # One email per token: a resend issues a new token, so it gets its own key.
        key=f"staff-invite:{invite.pk}:{invite.token_hash[:16]}",
        kind="staff-invite",
        to=invite.email,
        template="staff-invite",
        context={"invite": invite, "link": link, "inviter": inviter},
        org=invite.org,
        reply_to=invite.invited_by.user.email if invite.invited_by else "",
    )


@dataclass
class InviteProblem:
    message: str


@transaction.atomic
def staff_invite_create(
    *, org: Organisation, email: str, name: str, role: str, invited_by: Membership, now: datetime
) -> StaffInvite | InviteProblem:
    """Invite someone to the business and queue the email; return the invite or the problem."""
    email = email.strip().lower()
    if Membership.objects.filter(org=org, user__email__iexact=email).exists():
        return InviteProblem(
            gettext("%(email)s is already a member of %(business)s.")
            % {"email": email, "business": org.name}
        )
    # Someone who belongs to another business is invited like anyone else: telling the owner
    # would let any owner find out who uses Heard. The email reaches the address itself, and
    # the join page tells its holder they'd have to leave their business first.
    if org.staff_invites.pending(now).filter(email__iexact=email).exists():
        return InviteProblem(
            gettext("%(email)s already has a pending invitation: resend it below.")
            % {"email": email}
        )
    raw, token_hash = StaffInvite.new_token()
    invite = StaffInvite.objects.create(
        org=org,
        email=email,
        name=name,
        role=role,
        token_hash=token_hash,
        invited_by=invited_by,
        created_at=now,
        expires_at=StaffInvite.default_expiry(now),
    )
    _send_invite_email(invite, raw)
    return invite


@transaction.atomic
def staff_invite_resend(*, invite: StaffInvite, by: Membership, now: datetime) -> StaffInvite:
    """Issue a fresh link (the old one stops working), extend the expiry, queue the email."""
    raw, token_hash = StaffInvite.new_token()
    invite.token_hash = token_hash
    invite.expires_at = StaffInvite.default_expiry(now)
    invite.invited_by = by
    invite.revoked_at = None
    invite.save(update_fields=["token_hash", "expires_at", "invited_by", "revoked_at"])
    _send_invite_email(invite, raw)
    return invite


def staff_invite_revoke(*, invite: StaffInvite, now: datetime) -> bool:
    """Stop an unaccepted invitation's link working. Return True if it was still open."""
    return bool(
        StaffInvite.objects.filter(pk=invite.pk, accepted_at=None, revoked_at=None).update(
            revoked_at=now
        )
    )


@transaction.atomic
def staff_invite_accept(
    *, invite: StaffInvite, name: str, password: str, now: datetime
) -> Membership | None:
    """Turn an invitation into a member with a password. Return None if the link was already
    used, revoked or expired (or the person joined another business meanwhile)."""
    claimed = StaffInvite.objects.filter(
        pk=invite.pk, accepted_at=None, revoked_at=None, expires_at__gt=now
    ).update(accepted_at=now)
    if claimed != 1:
        return None
    user = User.objects.filter(email__iexact=invite.email).first()
    if user is None:
        user = User.objects.create_user(email=invite.email, password=password, name=name)
    elif hasattr(user, "membership"):
        transaction.set_rollback(True)
        return None
    else:
        # The link was mailed to this address, so holding it proves the address is theirs.
        user.name = name
        user.set_password(password)
        user.save(update_fields=["name", "password"])
    _mark_email_verified(user)
    return Membership.objects.create(org=invite.org, user=user, role=invite.role, created_at=now)


def _mark_email_verified(user: User) -> None:
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )


def _owner_count(org: Organisation) -> int:
    # Lock the owners' rows so two owners demoting each other at once can't both succeed.
    return len(
        Membership.objects.select_for_update()
        .filter(org=org, role=Membership.Role.OWNER)
        .values_list("pk", flat=True)
    )


@transaction.atomic
def membership_set_role(*, member: Membership, role: str) -> Membership:
    """Change a member's role; raise LastOwnerError rather than leave the business ownerless."""
    if member.is_owner and role != Membership.Role.OWNER and _owner_count(member.org) <= 1:
        raise LastOwnerError
    member.role = role
    member.save(update_fields=["role"])
    return member


@transaction.atomic
def membership_remove(*, member: Membership) -> None:
    """Remove someone from the business. Their actions stay, unassigned; their login stays but
    opens nothing. Raise LastOwnerError for the last owner."""
    if member.is_owner and _owner_count(member.org) <= 1:
        raise LastOwnerError
    member.delete()


def api_token_create(
    *, org: Organisation, name: str, by: Membership, scopes: list[str]
) -> tuple[ApiToken, str]:
    """Issue a token with the scopes chosen; return it and the raw secret, which is shown
    once and never stored."""
    return ApiToken.issue(org=org, name=name, created_by=by, scopes=scopes)


def api_token_revoke(*, token: ApiToken, now: datetime) -> bool:
    """Revoke a token; return True if it was active."""
    return bool(ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=now))


def user_set_name(*, user: User, name: str) -> User:
    user.name = name
    user.save(update_fields=["name"])
    return user
