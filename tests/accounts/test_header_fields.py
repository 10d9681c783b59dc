"""Every text that ends up in an email header (From name, Reply-To, To, the inviter's name)
is refused with a clear message when it holds a line separator: one such character in a
business name would otherwise stop every email that business sends."""

import pytest

from accounts.models import Organisation, StaffInvite, User

from .test_settings_org import _form

SEPARATORS = {
    "CR": "\r",
    "LF": "\n",
    "VT": "\x0b",
    "FF": "\x0c",
    "FS": "\x1c",
    "GS": "\x1d",
    "RS": "\x1e",
    "NEL": "\x85",
    "LINE SEPARATOR": "\u2028",
    "PARAGRAPH SEPARATOR": "\u2029",
}
MESSAGE = "must be one line of plain text"


@pytest.fixture(params=list(SEPARATORS.values()), ids=list(SEPARATORS))
def separator(request):
    return request.param


@pytest.mark.parametrize("field", ["name", "sender_name"])
def test_it_refuses_a_line_separator_in_an_organisation_name(owner_client, org, separator, field):
    response = owner_client.post("/settings/", _form(org, **{field: f"Alpha{separator}Bikes"}))
    assert response.status_code == 200
    assert MESSAGE in response.content.decode()
    org.refresh_from_db()
    assert org.name == "Alpha Bikes" and org.sender_name == ""


def test_it_refuses_a_line_separator_in_the_reply_to(owner_client, org, separator):
    response = owner_client.post(
        "/settings/", _form(org, reply_to=f"help@alpha{separator}.example")
    )
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    org.refresh_from_db()
    assert org.reply_to == ""


def test_it_refuses_a_line_separator_in_a_signup_business_or_person(client, db, separator):
    data = {
        "name": f"Pat{separator}Jones",
        "business_name": f"Pat{separator}Shop",
        "timezone": "Europe/London",
        "email": "pat@example.com",
        "password1": "a long enough passphrase",
        "password2": "a long enough passphrase",
    }
    response = client.post("/accounts/signup/", data)
    assert response.status_code == 200
    assert MESSAGE in response.content.decode()
    assert not Organisation.objects.exists()
    assert not User.objects.exists()


def test_it_refuses_a_line_separator_in_an_invitation(owner_client, org, separator):
    response = owner_client.post(
        "/settings/members/invite/",
        {
            "email": f"new@alpha{separator}.example",
            "name": f"New{separator}Person",
            "role": "staff",
        },
    )
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert not StaffInvite.objects.exists()


def test_it_refuses_a_line_separator_in_a_members_own_name(teammate_client, separator):
    response = teammate_client.post("/settings/profile/", {"name": f"Bob{separator}Baker"})
    assert response.status_code == 200
    assert MESSAGE in response.content.decode()


def test_it_still_accepts_other_unicode_in_names(owner_client, org):
    response = owner_client.post(
        "/settings/", _form(org, name="Zoë’s Bikes 🚲", sender_name="Zoë at Alpha")
    )
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.name == "Zoë’s Bikes 🚲"
