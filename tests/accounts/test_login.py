import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.mail import email_send_queued
from accounts.models import OutgoingEmail
from tests.accounts.helpers import post_raw
from tests.hostile import hostile_strings

URL = "/accounts/login/"


def _verified(member):
    # Logging in needs a verified address (ACCOUNT_EMAIL_VERIFICATION is mandatory); real
    # members have one from their sign-up link or their invitation.
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=member.user, email=member.user.email, verified=True)
    return member


@pytest.fixture
def owner(owner):
    return _verified(owner)


@pytest.fixture
def teammate(teammate):
    return _verified(teammate)


def test_it_shows_the_login_page_on_our_layout(client, db):
    response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Log in</h1>" in body
    assert "Forgot your password?" in body


def test_the_owner_logs_in_and_lands_on_the_dashboard(client, owner):
    response = client.post(URL, {"login": owner.user.email, "password": "password"}, follow=True)
    assert response.redirect_chain[-1][0] == "/dashboard/"


def test_email_is_case_insensitive(client, owner):
    response = client.post(URL, {"login": owner.user.email.upper(), "password": "password"})
    assert response.status_code == 302


def test_a_wrong_password_says_so(client, owner):
    response = client.post(URL, {"login": owner.user.email, "password": "nope"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()


def test_repeated_failures_are_rate_limited(client, owner):
    for n in range(5):
        response = client.post(URL, {"login": owner.user.email, "password": f"wrong{n}"})
        assert "Too many" not in response.content.decode()
    response = client.post(URL, {"login": owner.user.email, "password": "wrong again"})
    assert "Too many failed login attempts" in response.content.decode()
    # Even the right password is refused while the limit holds.
    response = client.post(URL, {"login": owner.user.email, "password": "password"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "value", hostile_strings("emails_malformed", "markup", "unicode", "header_injection")
)
def test_hostile_logins_get_a_clear_message_not_a_500(client, db, value):
    response = post_raw(client, URL, {"login": value, "password": value})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="errorlist' in body
    assert "<script>alert(1)</script>" not in body


def test_logout_needs_a_post(owner_client):
    assert owner_client.get("/accounts/logout/").status_code == 200
    assert "_auth_user_id" in owner_client.session
    assert owner_client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in owner_client.session


def test_password_reset_sends_a_working_link(client, owner):
    response = client.post("/accounts/password/reset/", {"email": owner.user.email})
    assert response.status_code == 302
    assert OutgoingEmail.objects.filter(to=owner.user.email).count() == 1
    email_send_queued(now=timezone.now())
    body = mail.outbox[0].body
    link = next(line for line in body.splitlines() if "/accounts/password/reset/key/" in line)
    path = link[link.index("/accounts/") :].strip()
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else path
    done = client.post(
        action, {"password1": "brand new passphrase 1", "password2": "brand new passphrase 1"}
    )
    assert done.status_code == 302
    owner.user.refresh_from_db()
    assert owner.user.check_password("brand new passphrase 1")


def test_password_reset_for_an_unknown_address_reveals_nothing(client, db):
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize("value", hostile_strings("emails_malformed"))
def test_password_reset_with_a_malformed_address_says_so(client, db, value):
    response = post_raw(client, "/accounts/password/reset/", {"email": value})
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()


# ---------------------------------------------------------------------------------------------
# Lockouts: per account and address, with a high cap per address.

ATTACKER = "203.0.113.66"
OFFICE = "198.51.100.7"


def login(client, email, password, ip):
    return client.post(URL, {"login": email, "password": password}, REMOTE_ADDR=ip)


def _ip_cap() -> int:
    from django.conf import settings

    rates = settings.ACCOUNT_RATE_LIMITS["login_failed"].split(",")
    [ip_rate] = [rate for rate in rates if rate.endswith("/ip")]
    return int(ip_rate.split("/")[0])


def test_ten_failures_from_one_address_dont_lock_out_someone_elses_right_password(
    client, owner, teammate
):
    # A colleague behind the same office address mistypes ten times, on several accounts.
    for n in range(10):
        login(Client(), f"guess{n}@alpha.example", "wrong", OFFICE)
    login(Client(), teammate.user.email, "wrong", OFFICE)
    response = login(client, owner.user.email, "password", OFFICE)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.user.pk)


def test_a_stranger_cannot_lock_an_owner_out_from_another_address(client, owner):
    for n in range(20):
        response = login(Client(), owner.user.email, f"wrong{n}", ATTACKER)
    assert "Too many failed login attempts" in response.content.decode()
    response = login(client, owner.user.email, "password", OFFICE)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.user.pk)


def test_guessing_one_account_from_one_address_is_still_locked_out(client, owner):
    for n in range(5):
        login(client, owner.user.email, f"wrong{n}", ATTACKER)
    response = login(client, owner.user.email, "password", ATTACKER)
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_ipv6_guesser_cannot_escape_the_lockout_by_changing_address(client, owner):
    for n in range(5):
        login(client, owner.user.email, f"wrong{n}", f"2001:db8:1:2::{n + 1}")
    response = login(client, owner.user.email, "password", "2001:db8:1:2::99")
    assert "Too many failed login attempts" in response.content.decode()


def test_one_address_trying_many_accounts_meets_a_cap(client, owner):
    # Three seconds apart: under allauth's separate 30-a-minute limit on login posts, so this
    # is the failed-login cap at work.
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for n in range(_ip_cap()):
            login(client, f"spray{n}@example.com", "wrong", ATTACKER)
            clock.shift(3)
        response = login(client, owner.user.email, "password", ATTACKER)
        assert "Too many failed login attempts" in response.content.decode()
        assert "_auth_user_id" not in client.session
        # Another address is not affected.
        assert login(Client(), owner.user.email, "password", OFFICE).status_code == 302
