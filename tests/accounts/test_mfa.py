"""Two-factor authentication (allauth.mfa: an authenticator app and recovery codes), the
admin's login going through Heard's own, and an organisation that requires 2FA."""

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.test import Client

from accounts.models import User

from .test_settings_org import _form

LOGIN = "/accounts/login/"


def _verified(user):
    EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    return user


def _with_totp(user) -> str:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def _code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


def logged_in_with_password(member) -> Client:
    """A client that logged in through the form: setting up 2FA needs a recent password."""
    _verified(member.user)
    client = Client()
    response = client.post(LOGIN, {"login": member.user.email, "password": "password"})
    assert response.status_code == 302
    return client


def reauthenticated(client) -> Client:
    # allauth asks for the password again right before 2FA is set up or changed.
    response = client.post("/accounts/reauthenticate/", {"password": "password"})
    assert response.status_code == 302
    return client


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser(email="root@heard.example", password="password")


# --- The admin's login -------------------------------------------------------------------------


def test_the_admin_login_sends_people_to_heards_login(client, db):
    response = client.get("/admin/login/?next=/admin/accounts/user/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert "next=/admin/accounts/user/" in response["Location"]


def test_the_admin_login_form_no_longer_logs_anyone_in(client, superuser):
    response = client.post("/admin/login/", {"username": superuser.email, "password": "password"})
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_the_admin_login_obeys_the_normal_lockout(client, superuser):
    for n in range(5):
        client.post(LOGIN + "?next=/admin/", {"login": superuser.email, "password": f"x{n}"})
    response = client.post(
        LOGIN + "?next=/admin/", {"login": superuser.email, "password": "password"}
    )
    assert "Too many failed login attempts" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_a_superuser_reaches_the_admin_through_the_normal_login(client, superuser):
    response = client.post(
        LOGIN + "?next=/admin/", {"login": superuser.email, "password": "password"}
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_logged_in_member_who_isnt_staff_gets_a_403_not_a_loop(owner_client):
    assert owner_client.get("/admin/login/?next=/admin/").status_code == 403


# --- Two-factor authentication at login ---------------------------------------------------------


def test_a_superuser_with_2fa_needs_the_code_for_the_admin(client, superuser):
    secret = _with_totp(superuser)
    response = client.post(
        LOGIN + "?next=/admin/", {"login": superuser.email, "password": "password"}
    )
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    response = client.post("/accounts/2fa/authenticate/", {"code": _code(secret)})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_an_owner_can_log_in_with_a_recovery_code(client, owner):
    _verified(owner.user)
    _with_totp(owner.user)
    client.post(LOGIN, {"login": owner.user.email, "password": "password"})
    codes = RecoveryCodes(Authenticator.objects.get(user=owner.user, type="recovery_codes"))
    response = client.post("/accounts/2fa/authenticate/", {"code": codes.get_unused_codes()[0]})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.user.pk)


def test_an_owner_can_set_up_an_authenticator_app(owner):
    owner_client = reauthenticated(logged_in_with_password(owner))
    page = owner_client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    assert "<svg" in page.content.decode() or "data:image/svg+xml" in page.content.decode()
    secret = page.context["form"].secret
    response = owner_client.post("/accounts/2fa/totp/activate/", {"code": _code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=owner.user, type="totp").exists()
    assert Authenticator.objects.filter(user=owner.user, type="recovery_codes").exists()


def test_the_profile_tab_offers_two_factor_authentication(owner_client):
    assert "/accounts/2fa/" in owner_client.get("/settings/profile/").content.decode()


# --- An organisation that requires it -----------------------------------------------------------


def test_an_owner_without_2fa_cannot_require_it(owner_client, org):
    response = owner_client.post("/settings/", _form(org, require_mfa="on"))
    assert response.status_code == 200
    assert "Set up two-factor authentication for yourself first." in response.content.decode()
    org.refresh_from_db()
    assert not org.require_mfa


def test_an_owner_with_2fa_requires_it_for_everyone(owner_client, owner, org):
    _with_totp(owner.user)
    response = owner_client.post("/settings/", _form(org, require_mfa="on"))
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.require_mfa
    assert owner_client.get("/settings/").status_code == 200


@pytest.mark.parametrize("url", ["/inbox/", "/settings/", "/settings/profile/", "/"])
def test_a_member_without_2fa_is_sent_to_set_it_up_first(teammate, org, url):
    org.require_mfa = True
    org.save()
    teammate_client = logged_in_with_password(teammate)
    response = teammate_client.get(url)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/totp/activate/"
    # The set-up page first asks for the password again; both pages are open to them.
    asks = teammate_client.get("/accounts/2fa/totp/activate/")
    assert asks["Location"].startswith("/accounts/reauthenticate/")
    assert teammate_client.get(asks["Location"]).status_code == 200
    assert reauthenticated(teammate_client).get("/accounts/2fa/totp/activate/").status_code == 200
    assert teammate_client.post("/accounts/logout/").status_code == 302


def test_a_member_with_2fa_goes_about_their_work(teammate_client, teammate, org):
    org.require_mfa = True
    org.save()
    _with_totp(teammate.user)
    assert teammate_client.get("/inbox/").status_code == 200


def test_other_businesses_are_not_affected(outsider_client, org):
    org.require_mfa = True
    org.save()
    assert outsider_client.get("/inbox/").status_code == 200


def test_the_api_is_not_sent_to_a_set_up_page(org, owner):
    from accounts.models import ApiToken

    org.require_mfa = True
    org.save()
    _token, raw = ApiToken.issue(org=org, name="Till", created_by=owner)
    response = Client().get("/api/v1/openapi.json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
