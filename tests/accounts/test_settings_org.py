import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.accounts.helpers import as_received, post_raw
from tests.hostile import hostile_strings

URL = "/settings/"


def _form(org, **overrides):
    data = {
        "name": org.name,
        "timezone": org.timezone,
        "working_days": ["0", "1", "2", "3", "4"],
        "work_starts": "09:00",
        "work_ends": "17:30",
        "brand_colour": "#1f6f5c",
        "sender_name": "",
        "reply_to": "",
        "quiet_starts": "21:00",
        "quiet_ends": "08:00",
        "fatigue_days": "30",
        "survey_reminder_days": "3",
        "invitation_expiry_days": "30",
    }
    data.update(overrides)
    return data


def _png(size=(40, 20), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "#1f6f5c").save(buffer, fmt)
    return buffer.getvalue()


def test_it_shows_the_owner_an_editable_form(owner_client, org):
    response = owner_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="brand_colour"' in body
    assert 'enctype="multipart/form-data"' in body


def test_it_saves_every_setting(owner_client, org):
    data = _form(
        org,
        name="Alpha Cycles",
        timezone="Asia/Tokyo",
        working_days=["1", "5", "5"],
        work_starts="08:15",
        work_ends="18:00",
        brand_colour="#AA3300",
        sender_name="Alpha team",
        reply_to="help@alpha.example",
        fatigue_days="0",
        survey_reminder_days="0",
        invitation_expiry_days="14",
        wall_enabled="on",
    )
    response = owner_client.post(URL, data)
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.name == "Alpha Cycles"
    assert org.timezone == "Asia/Tokyo"
    assert org.working_days == [1, 5]
    assert org.work_starts.strftime("%H:%M") == "08:15"
    assert org.brand_colour == "#aa3300"
    assert org.sender_name == "Alpha team"
    assert org.reply_to == "help@alpha.example"
    assert (org.fatigue_days, org.survey_reminder_days, org.invitation_expiry_days) == (0, 0, 14)
    assert org.wall_enabled


def test_work_must_end_after_it_starts(owner_client, org):
    response = owner_client.post(URL, _form(org, work_starts="18:00", work_ends="09:00"))
    assert response.status_code == 200
    assert "Work must end after it starts." in response.content.decode()


def test_at_least_one_working_day(owner_client, org):
    response = owner_client.post(URL, _form(org, working_days=[]))
    assert response.status_code == 200
    assert "at least one working day" in response.content.decode()


@pytest.mark.parametrize(
    "field,value",
    [
        ("brand_colour", "red"),
        ("brand_colour", "#12345g"),
        ("timezone", "Mars/Olympus"),
        ("fatigue_days", "-1"),
        ("survey_reminder_days", "999"),
        ("invitation_expiry_days", "0"),
        ("work_starts", "25:00"),
        ("working_days", ["7"]),
    ],
)
def test_out_of_range_values_get_a_clear_message(owner_client, org, field, value):
    response = owner_client.post(URL, _form(org, **{field: value}))
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()


def test_it_accepts_a_png_logo(owner_client, org):
    logo = SimpleUploadedFile("logo.png", _png(), content_type="image/png")
    response = owner_client.post(URL, {**_form(org), "logo": logo})
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.logo.name.startswith("logos/")
    served = owner_client.get(org.logo.url)
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == _png()


@pytest.mark.parametrize("name", ["nothere.png", "..%2F..%2Fsecret", "x.png%00"])
def test_only_stored_logos_are_served(client, db, name):
    assert client.get(f"/media/logos/{name}").status_code == 404


@pytest.mark.parametrize(
    "name,content,message",
    [
        (
            "logo.svg",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "image",
        ),
        ("logo.png", b"not an image at all", "image"),
        ("logo.bmp", _png(fmt="BMP"), "PNG, JPEG or WebP"),
        ("huge.png", _png(size=(1, 1)) + b"\0" * 1_100_000, "too large"),
    ],
)
def test_it_refuses_bad_logos_with_a_message(owner_client, org, name, content, message):
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    response = owner_client.post(URL, {**_form(org), "logo": upload})
    assert response.status_code == 200
    assert message in response.content.decode()
    org.refresh_from_db()
    assert not org.logo


@pytest.mark.parametrize("value", hostile_strings("markup", "unicode", "sql_and_paths"))
def test_hostile_names_are_stored_exactly_or_refused(owner_client, org, value):
    response = post_raw(owner_client, URL, _form(org, name=value, sender_name=value))
    assert response.status_code in (200, 302)
    org.refresh_from_db()
    if response.status_code == 200:
        assert 'class="errorlist' in response.content.decode()
        assert org.name == "Alpha Bikes"
        return
    assert org.name == as_received(value)
    assert org.sender_name == as_received(value)
    page = owner_client.get(URL).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "<svg/onload" not in page


@pytest.mark.parametrize("value", hostile_strings("header_injection", "emails_malformed"))
def test_header_injection_in_sender_and_reply_to_is_refused(owner_client, org, value):
    response = post_raw(owner_client, URL, _form(org, sender_name=value, reply_to=value))
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    org.refresh_from_db()
    assert org.sender_name == "" and org.reply_to == ""


def test_staff_see_the_settings_read_only(teammate_client, org):
    response = teammate_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Only the business's owners can change these settings." in body
    assert 'name="brand_colour"' not in body


def test_staff_cannot_change_the_settings(teammate_client, org):
    response = teammate_client.post(URL, _form(org, name="Hijacked"))
    assert response.status_code == 403
    org.refresh_from_db()
    assert org.name == "Alpha Bikes"


def test_it_needs_a_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_wrong_method_is_rejected(owner_client):
    assert owner_client.put(URL).status_code == 405


def test_a_user_without_a_business_is_sent_to_the_welcome_page(client, db):
    from accounts.models import User

    user = User.objects.create_user(email="lone@example.com", password="password")
    client.force_login(user)
    assert client.get(URL)["Location"] == "/welcome/"
    assert client.get("/welcome/").status_code == 200


def test_the_profile_tab_saves_the_name(teammate_client, teammate):
    assert teammate_client.get("/settings/profile/").status_code == 200
    response = teammate_client.post("/settings/profile/", {"name": "Bobby <b>Baker</b>"})
    assert response.status_code == 302
    teammate.user.refresh_from_db()
    assert teammate.user.name == "Bobby <b>Baker</b>"
    assert (
        "Bobby &lt;b&gt;Baker&lt;/b&gt;"
        in teammate_client.get("/settings/members/").content.decode()
    )


@pytest.mark.parametrize("value", ["", "nul\x00byte", "two\nlines", "x" * 151])
def test_the_profile_tab_refuses_bad_names(teammate_client, teammate, value):
    response = teammate_client.post("/settings/profile/", {"name": value})
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
