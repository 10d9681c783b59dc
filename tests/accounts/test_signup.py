import re
import unicodedata

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.mail import email_send_queued
from accounts.models import Membership, Organisation, OutgoingEmail, User
from tests.accounts.helpers import as_received, post_raw
from tests.hostile import hostile_strings

URL = "/accounts/signup/"


def _form(**overrides):
    data = {
        "name": "Dana Day",
        "business_name": "Day's Bikes",
        "timezone": "Europe/Paris",
        "email": "dana@day.example",
        "password1": "a long and unusual passphrase",
        "password2": "a long and unusual passphrase",
    }
    data.update(overrides)
    return data


def test_it_shows_the_form_on_our_layout(client, db):
    response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Sign up your business" in body
    assert 'name="business_name"' in body
    assert 'lang="en"' in body  # base.html, not allauth's bare layout


def test_it_creates_the_business_and_its_owner(client, db):
    response = client.post(URL, _form())
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(email="dana@day.example")
    assert user.name == "Dana Day"
    member = Membership.objects.select_related("org").get(user=user)
    assert member.is_owner
    assert member.org.name == "Day's Bikes"
    assert member.org.slug == "days-bikes"
    assert member.org.timezone == "Europe/Paris"
    # Logged in only once the address is proved: see the verification test below.
    assert "_auth_user_id" not in client.session


def _confirm_link_sent_to(address: str) -> str:
    email_send_queued(now=timezone.now())
    [message] = [m for m in mail.outbox if address in m.to]
    link = next(line for line in message.body.splitlines() if "/accounts/confirm-email/" in line)
    return link[link.index("/accounts/") :].strip()


def test_the_verification_link_logs_the_new_owner_in_to_their_settings(client, db):
    client.post(URL, _form())
    response = client.post(_confirm_link_sent_to("dana@day.example"), follow=True)
    assert response.redirect_chain[-1][0] == "/settings/"
    assert client.session["_auth_user_id"] == str(User.objects.get().pk)


_PER_REQUEST = re.compile(r'nonce="[^"]*"|"X-CSRFToken": "[^"]*"|value="[^"]{40,}"')


def _page_without_secrets(client, response, address: str) -> str:
    body = client.get(response["Location"]).content.decode()
    return _PER_REQUEST.sub("", body).replace(address, "EMAIL")


def test_a_taken_address_gets_the_same_answer_as_a_new_one(client, outsider):
    new = Client().post(URL, _form(email="fresh@day.example"))
    taken = client.post(URL, _form(email=outsider.user.email))
    assert taken.status_code == new.status_code == 302
    assert taken["Location"] == new["Location"]
    assert _page_without_secrets(client, taken, outsider.user.email) == _page_without_secrets(
        Client(), new, "fresh@day.example"
    )
    # No second business and no second account for the taken address ...
    assert Membership.objects.filter(user__email=outsider.user.email).count() == 1
    assert Organisation.objects.filter(name="Day's Bikes").count() == 1
    # ... and its owner hears that someone tried, in their own inbox.
    email_send_queued(now=timezone.now())
    [notice] = [m for m in mail.outbox if outsider.user.email in m.to]
    assert "already" in (notice.subject + notice.body).lower()


def test_it_sends_the_verification_link_through_the_outbox(client, db):
    client.post(URL, _form())
    queued = OutgoingEmail.objects.get(to="dana@day.example")
    assert "confirm" in queued.subject.lower()
    assert mail.outbox == []  # the request only wrote a row
    assert email_send_queued(now=timezone.now()) == 1
    link = next(
        line for line in mail.outbox[0].body.splitlines() if "/accounts/confirm-email/" in line
    )
    path = link[link.index("/accounts/") :].strip()
    assert client.post(path).status_code == 302
    from allauth.account.models import EmailAddress

    assert EmailAddress.objects.get(email="dana@day.example").verified


def test_two_businesses_with_the_same_name_get_different_slugs(client, db):
    client.post(URL, _form())
    client.post("/accounts/logout/")
    client.post(URL, _form(email="eve@day.example"))
    assert sorted(Organisation.objects.values_list("slug", flat=True)) == [
        "days-bikes",
        "days-bikes-2",
    ]


def test_an_existing_email_does_not_create_a_second_business(client, owner):
    response = client.post(URL, _form(email=owner.user.email))
    assert response.status_code in (200, 302)
    assert Organisation.objects.count() == 1


@pytest.mark.parametrize("value", hostile_strings("markup", "unicode", "sql_and_paths"))
def test_hostile_business_names_are_stored_exactly_or_refused(client, db, value):
    response = post_raw(client, URL, _form(business_name=value, name=value))
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert 'class="errorlist' in response.content.decode()
        assert not Organisation.objects.exists()
        return
    org = Organisation.objects.get()
    assert org.name == as_received(value)
    page = client.get("/settings/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "<img src=x" not in page


@pytest.mark.parametrize("value", hostile_strings("header_injection"))
def test_header_injection_in_names_is_refused(client, db, value):
    response = client.post(URL, _form(name=value, business_name=value))
    if any(unicodedata.category(ch) in {"Cc", "Zl", "Zp"} for ch in value):
        assert response.status_code == 200
        assert "one line of plain text" in response.content.decode()
        assert not Organisation.objects.exists()
    else:
        assert response.status_code == 302


@pytest.mark.parametrize("value", hostile_strings("emails_malformed"))
def test_malformed_emails_get_a_clear_message(client, db, value):
    response = post_raw(client, URL, _form(email=value))
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.parametrize("size", [121, 5001])
def test_overlong_names_get_a_clear_message(client, db, size):
    response = client.post(URL, _form(business_name="b" * size))
    assert response.status_code == 200
    assert "at most 120 characters" in response.content.decode()


def test_a_lone_surrogate_in_the_form_is_refused_by_the_form_itself(db):
    from accounts.forms import BusinessSignupForm

    form = BusinessSignupForm(
        data={"name": "\ud83d", "business_name": "x\ud83d", "timezone": "UTC"}
    )
    assert not form.is_valid()
    assert "broken character" in str(form.errors)


def test_a_weak_password_gets_a_clear_message(client, db):
    response = client.post(URL, _form(password1="password", password2="password"))
    assert response.status_code == 200
    assert "too common" in response.content.decode()


def test_a_logged_in_member_is_sent_home(owner_client):
    assert owner_client.get(URL).status_code == 302
