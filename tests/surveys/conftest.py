import pytest
from django.test import Client

from accounts.models import ApiToken
from tests.factories import make_survey, make_touchpoint


@pytest.fixture
def survey(org):
    return make_survey(org)


@pytest.fixture
def touchpoint(org, survey):
    return make_touchpoint(org, slug="repair", name="Repair collected", survey=survey)


@pytest.fixture
def api_token(org, owner):
    _token, raw = ApiToken.issue(org=org, name="Till", created_by=owner)
    return raw


@pytest.fixture
def api(api_token):
    """A client that posts JSON with the bearer token."""

    class Api:
        def __init__(self):
            self.client = Client()

        def post(self, path, data=None, raw=None, token=api_token, **extra):
            import json

            body = raw if raw is not None else json.dumps(data)
            headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
            return self.client.post(path, body, content_type="application/json", **headers, **extra)

    return Api()
