import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.mail import email_send_queued
from accounts.models import Membership, OutgoingEmail, StaffInvite, User
from accounts.services import staff_invite_create
from tests.accounts.helpers import post_raw
from tests.conftest import make_member
from tests.hostile import hostile_strings


def _invite(owner, email="new@alpha.example", **kwargs):
    """Invite through the page; return (invite, raw token from the emailed link)."""
    client = Client()
    client.force_login(owner.user)
    response = client.post("/settings/members/invite/", {"email": email, "role": "staff", **kwargs})
    assert response.status_code == 302, response.content.decode()
    return StaffInvite.objects.get(email=email.lower()), _last_link_token(email.lower())


def _last_link_token(email):
    row = OutgoingEmail.objects.filter(to=email, kind="staff-invite").order_by("-id").first()
    return re.search(r"/join/([^/\s]+)/", row.body_text).group(1)


def _join(client, token, **overrides):
    data = {
        "name": "Nina New",
        "password1": "correct horse battery",
        "password2": "correct horse battery",
    }
    data.update(overrides)
    return client.post(f"/join/{token}/", data)


def test_it_lists_members_for_everyone_in_the_business(teammate_client, owner, teammate):
    response = teammate_client.get("/settings/members/")
    assert response.status_code == 200
    body = response.content.decode()
    assert owner.user.email in body and teammate.user.email in body
    assert "Send invitation" not in body  # staff see the list only


def test_the_member_list_takes_a_fixed_number_of_queries(
    owner_client, org, owner, django_assert_max_num_queries
):
    for n in range(10):
        make_member(org, f"m{n}@alpha.example", "staff")
    with django_assert_max_num_queries(8):
        assert owner_client.get("/settings/members/").status_code == 200


def test_an_owner_invites_staff_and_the_email_goes_out(owner, org):
    invite, token = _invite(owner, "New@Alpha.example", name="Nina")
    assert invite.email == "new@alpha.example"
    assert invite.token_hash != token and len(invite.token_hash) == 64  # only the hash is stored
    assert invite.expires_at - invite.created_at == timedelta(days=7)
    assert email_send_queued(now=timezone.now()) == 1
    message = mail.outbox[0]
    assert message.to == ["new@alpha.example"]
    assert "Alpha Bikes" in message.subject
    assert f"http://testserver/join/{token}/" in message.body


def test_the_invited_person_sets_a_password_and_is_logged_in(owner, org):
    invite, token = _invite(owner)
    client = Client()
    page = client.get(f"/join/{token}/")
    assert page.status_code == 200
    assert "Join Alpha Bikes" in page.content.decode()
    response = _join(client, token)
    assert response.status_code == 302
    user = User.objects.get(email="new@alpha.example")
    assert user.check_password("correct horse battery")
    assert user.membership.org == org and user.membership.role == "staff"
    assert client.get("/settings/members/").status_code == 200
    invite.refresh_from_db()
    assert invite.accepted_at is not None


def test_a_used_link_answers_410(owner):
    _, token = _invite(owner)
    assert _join(Client(), token).status_code == 302
    response = Client().get(f"/join/{token}/")
    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    assert _join(Client(), token).status_code == 410


def test_an_expired_link_answers_410(owner, time_machine):
    _, token = _invite(owner)
    time_machine.move_to(timezone.now() + timedelta(days=7, minutes=1))
    response = Client().get(f"/join/{token}/")
    assert response.status_code == 410
    assert "expired" in response.content.decode()


@pytest.mark.parametrize("token", [*hostile_strings("tokens"), "x" * 43, "a" * 500])
def test_an_unknown_link_answers_404_with_a_friendly_page(db, token):
    response = Client().get(f"/join/{token}/")
    assert response.status_code == 404
    if token and "/" not in token:
        assert "find this invitation" in response.content.decode()


def test_revoking_an_invite_stops_the_link(owner_client, owner):
    invite, token = _invite(owner)
    assert owner_client.post(f"/settings/invites/{invite.code}/revoke/").status_code == 302
    assert Client().get(f"/join/{token}/").status_code == 410


def test_resending_issues_a_fresh_link_and_kills_the_old_one(owner_client, owner, time_machine):
    invite, old = _invite(owner)
    time_machine.move_to(timezone.now() + timedelta(days=6))
    assert owner_client.post(f"/settings/invites/{invite.code}/resend/").status_code == 302
    new = _last_link_token(invite.email)
    assert new != old
    assert OutgoingEmail.objects.filter(kind="staff-invite").count() == 2
    time_machine.move_to(timezone.now() + timedelta(days=3))  # past the first expiry
    assert Client().get(f"/join/{old}/").status_code == 404
    assert Client().get(f"/join/{new}/").status_code == 200


def test_inviting_an_existing_member_says_so(owner_client, teammate):
    response = owner_client.post(
        "/settings/members/invite/", {"email": teammate.user.email, "role": "staff"}
    )
    assert response.status_code == 200
    assert "already a member" in response.content.decode()


def test_inviting_someone_from_another_business_looks_like_any_invitation(owner_client, outsider):
    fresh = owner_client.post(
        "/settings/members/invite/", {"email": "nobody-yet@example.com", "role": "staff"}
    )
    taken = owner_client.post(
        "/settings/members/invite/", {"email": outsider.user.email, "role": "staff"}
    )
    assert taken.status_code == fresh.status_code == 302
    assert taken["Location"] == fresh["Location"]
    page = owner_client.get("/settings/members/").content.decode()
    assert f"Invitation sent to {outsider.user.email}." in page
    assert "another business" not in page
    assert StaffInvite.objects.filter(email=outsider.user.email).exists()


def test_someone_from_another_business_cannot_use_the_invitation(client, owner, outsider):
    from django.utils import timezone

    from accounts import services

    invite = services.staff_invite_create(
        org=owner.org,
        email=outsider.user.email,
        name="",
        role="staff",
        invited_by=owner,
        now=timezone.now(),
    )
    member = services.staff_invite_accept(
        invite=invite, name="Olga", password="a long passphrase 1", now=timezone.now()
    )
    assert member is None
    outsider.refresh_from_db()
    assert outsider.org_id != owner.org_id


def test_inviting_twice_points_at_resend(owner_client, owner):
    _invite(owner)
    response = owner_client.post(
        "/settings/members/invite/", {"email": "new@alpha.example", "role": "staff"}
    )
    assert "pending invitation" in response.content.decode()
    assert StaffInvite.objects.count() == 1


def test_a_link_for_someone_who_joined_another_business_meanwhile_is_refused(owner, org, other_org):
    _, token = _invite(owner)
    make_member(other_org, "new@alpha.example", "owner")
    response = _join(Client(), token)
    assert response.status_code == 410
    assert Membership.objects.filter(org=org).count() == 1


@pytest.mark.parametrize(
    "value", hostile_strings("emails_malformed", "header_injection", "markup", "unicode")
)
def test_hostile_invite_emails_get_a_clear_message(owner_client, owner, value):
    response = post_raw(
        owner_client, "/settings/members/invite/", {"email": value, "role": "staff"}
    )
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert not StaffInvite.objects.exists()


@pytest.mark.parametrize("value", hostile_strings("markup", "unicode"))
def test_hostile_invite_names_are_stored_exactly_or_refused(owner_client, owner, value):
    response = post_raw(
        owner_client,
        "/settings/members/invite/",
        {"email": "n@alpha.example", "name": value, "role": "staff"},
    )
    if response.status_code == 200:
        assert 'class="errorlist' in response.content.decode()
        return
    invite = StaffInvite.objects.get()
    body = owner_client.get("/settings/members/").content.decode()
    assert "<script>alert(1)</script>" not in body
    assert invite.name


def test_an_invalid_role_is_refused(owner_client):
    response = owner_client.post(
        "/settings/members/invite/", {"email": "a@alpha.example", "role": "god"}
    )
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"password2": "something else entirely"}, "two passwords"),
        ({"password1": "password", "password2": "password"}, "too common"),
        ({"name": ""}, "required"),
        ({"name": "two\nlines"}, "one line"),
        ({"name": "nul\x00byte"}, "Null characters"),
    ],
)
def test_the_join_form_explains_its_errors(owner, overrides, message):
    _, token = _invite(owner)
    response = _join(Client(), token, **overrides)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="new@alpha.example").exists()


def test_staff_cannot_invite(teammate_client):
    response = teammate_client.post(
        "/settings/members/invite/", {"email": "x@alpha.example", "role": "owner"}
    )
    assert response.status_code == 403
    assert not StaffInvite.objects.exists()


def test_an_owner_changes_a_role(owner_client, teammate):
    assert (
        owner_client.post(f"/settings/members/{teammate.code}/role/", {"role": "owner"}).status_code
        == 302
    )
    teammate.refresh_from_db()
    assert teammate.is_owner


def test_the_last_owner_cannot_be_demoted_or_removed(owner_client, owner):
    response = owner_client.post(
        f"/settings/members/{owner.code}/role/", {"role": "staff"}, follow=True
    )
    assert "at least one owner" in response.content.decode()
    response = owner_client.post(f"/settings/members/{owner.code}/remove/", follow=True)
    assert "last owner" in response.content.decode()
    owner.refresh_from_db()
    assert owner.is_owner


def test_an_owner_can_step_down_when_another_owner_exists(owner_client, owner, org):
    make_member(org, "second@alpha.example", "owner")
    response = owner_client.post(f"/settings/members/{owner.code}/role/", {"role": "staff"})
    assert response["Location"] == "/"
    owner.refresh_from_db()
    assert not owner.is_owner


def test_an_owner_removes_a_member(owner_client, teammate):
    assert owner_client.post(f"/settings/members/{teammate.code}/remove/").status_code == 302
    assert not Membership.objects.filter(pk=teammate.pk).exists()
    assert User.objects.filter(pk=teammate.user_id).exists()


def test_staff_cannot_change_roles_or_remove(teammate_client, owner, teammate):
    assert (
        teammate_client.post(
            f"/settings/members/{teammate.code}/role/", {"role": "owner"}
        ).status_code
        == 403
    )
    assert teammate_client.post(f"/settings/members/{owner.code}/remove/").status_code == 403
    assert Membership.objects.filter(pk=owner.pk).exists()


@pytest.mark.parametrize(
    "path",
    [
        "/settings/members/invite/",
        "/settings/members/{m}/role/",
        "/settings/members/{m}/remove/",
        "/settings/invites/{i}/resend/",
        "/settings/invites/{i}/revoke/",
    ],
)
def test_member_actions_reject_get(owner_client, owner, teammate, path):
    invite = staff_invite_create(
        org=owner.org,
        email="g@alpha.example",
        name="",
        role="staff",
        invited_by=owner,
        now=timezone.now(),
    )
    url = path.format(m=teammate.code, i=invite.code)
    assert owner_client.get(url).status_code == 405


def test_it_shows_owners_which_member_addresses_bounced_lately(
    owner_client, teammate_client, org, owner, teammate, django_assert_max_num_queries
):
    now = timezone.now()
    for n in range(10):
        make_member(org, f"m{n}@alpha.example", "staff")

    def sent(key, to, bounced_at):
        OutgoingEmail.objects.create(
            org=org,
            key=key,
            kind="action-notice",
            to=to,
            from_email="x@heard.example",
            subject="s",
            body_text="b",
            sent_at=now,
            bounced_at=bounced_at,
        )

    sent("k1", "BOB@alpha.example", now - timedelta(days=2))
    sent("k2", "m1@alpha.example", now - timedelta(days=40))  # too long ago to matter now
    sent("k3", "m2@alpha.example", None)
    with django_assert_max_num_queries(8):
        html = owner_client.get("/settings/members/").content.decode()
    assert html.count("data-member-bounce") == 1
    assert f"Emails to this address bounced on {(now - timedelta(days=2)):%-d %b %Y}" in html
    # Staff see the list, not the addresses' troubles.
    assert "data-member-bounce" not in teammate_client.get("/settings/members/").content.decode()
