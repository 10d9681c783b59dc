from datetime import UTC, datetime

from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken

URL = "/settings/tokens/"
CREATED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_a_member_sees_times_in_their_organisations_zone(outsider_client, other_org, outsider):
    # other_org is in America/New_York: noon UTC is 07:00 there.
    token, _ = ApiToken.issue(org=other_org, name="Till", created_by=outsider)
    ApiToken.objects.filter(pk=token.pk).update(created_at=CREATED)
    body = outsider_client.get(URL).content.decode()
    assert 'datetime="2026-01-15T07:00:00-05:00"' in body
    assert "2026-01-15T12:00:00+00:00" not in body


def test_the_zone_does_not_outlive_the_request(outsider_client, client):
    outsider_client.get(URL)
    assert timezone.get_current_timezone_name() == "UTC"
    assert client.get("/").status_code == 200
    assert timezone.get_current_timezone_name() == "UTC"


def test_a_user_without_a_business_stays_on_utc(db, django_user_model):
    user = django_user_model.objects.create_user(email="lone@example.com", password="x")
    lone = Client()
    lone.force_login(user)
    assert lone.get("/", follow=True).status_code == 200
    assert timezone.get_current_timezone_name() == "UTC"
