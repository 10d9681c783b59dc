"""The security baseline: a nonce-based CSP on every page, production settings that pass
Django's deploy checks, and a production start that refuses to run without its secret."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.template import loader
from django.test import Client

from accounts.models import ApiToken

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "heard.example.com",
    "SITE_URL": "https://heard.example.com",
    "EMAIL_HOST": "smtp.example.com",
    "DJANGO_SETTINGS_MODULE": "feedback.settings",
}


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.parametrize(
    "url", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/"]
)
def test_public_pages_carry_a_nonce_policy(client, db, url):
    response = client.get(url)
    policy = _policy(response)
    nonce = re.search(r"'nonce-([^']+)'", policy["script-src"]).group(1)
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    # The organisation colour <style> carries this request's nonce.
    assert f'nonce="{nonce}"' in response.content.decode()


@pytest.mark.parametrize("url", ["/settings/", "/settings/members/", "/settings/tokens/"])
def test_logged_in_pages_carry_a_fresh_nonce_and_no_inline_handlers(owner_client, url):
    first = _policy(owner_client.get(url))["script-src"]
    response = owner_client.get(url)
    second = _policy(response)["script-src"]
    assert first != second  # a new nonce per response
    body = response.content.decode()
    assert not re.search(r"\son[a-z]+=", body), "inline event handlers break the CSP"
    assert ' style="' not in body
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def _manage(*args, env: dict, timeout=60):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "DEBUG"}
    # The browser tests set this in-process; a real deployment never has it.
    for name in ("HEARD_TESTING", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        clean.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_production_settings_pass_the_deploy_check():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    env = {k: v for k, v in PRODUCTION.items() if k != "ALLOWED_HOSTS"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_refuses_to_start_without_a_way_to_send_email():
    env = {k: v for k, v in PRODUCTION.items() if k != "EMAIL_HOST"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "EMAIL_HOST" in result.stderr


def test_a_typo_in_a_boolean_fails_loudly():
    result = _manage("check", env={**PRODUCTION, "SECURE_SSL_REDIRECT": "yes please"})
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stderr


# ---------------------------------------------------------------------------------------------
# A database outage answers 503 with Retry-After; a bug answers a plain 500. Neither says a
# word about the internals.

SECRET_DETAIL = 'could not connect to server "db.internal.example" (10.9.8.7) as user "heard"'


def _database_down(error_class):
    from django.db.backends.base.base import BaseDatabaseWrapper

    return mock.patch.object(BaseDatabaseWrapper, "cursor", side_effect=error_class(SECRET_DETAIL))


def _reveals_nothing(response) -> None:
    body = response.content.decode()
    for internal in ("db.internal", "10.9.8.7", "OperationalError", "InterfaceError", "Traceback"):
        assert internal not in body


def _unraising(client=None) -> Client:
    """A client that hands back the error response instead of re-raising the exception."""
    fresh = Client(raise_request_exception=False)
    if client is not None:
        fresh.cookies = client.cookies
    return fresh


DATABASE_ERRORS = pytest.mark.parametrize(
    "error_class", [OperationalError, InterfaceError], ids=["operational", "interface"]
)


@DATABASE_ERRORS
def test_it_answers_the_api_503_json_with_retry_after_when_the_database_is_down(
    org, owner, error_class
):
    _token, raw = ApiToken.issue(org=org, name="Till", created_by=owner)
    with _database_down(error_class):
        response = _unraising().post(
            "/api/v1/interactions",
            {"customer": {"email": "jo@example.com"}, "touchpoint": "x"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"].startswith("application/json")
    errors = response.json()["errors"]["__all__"]
    assert errors and all(isinstance(message, str) for message in errors)
    _reveals_nothing(response)


@DATABASE_ERRORS
def test_it_answers_a_members_page_503_when_the_database_is_down(owner_client, error_class):
    # The first query is the session lookup in a middleware, before any view runs.
    with _database_down(error_class):
        response = _unraising(owner_client).get("/settings/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"].startswith("text/html")
    assert "Back in a moment" in response.content.decode()
    _reveals_nothing(response)


@DATABASE_ERRORS
def test_it_answers_a_public_page_503_when_the_database_is_down(client, org, error_class):
    # Here the first query is in the view itself.
    with _database_down(error_class):
        response = _unraising().get(f"/wall/{org.slug}/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert "Back in a moment" in response.content.decode()
    _reveals_nothing(response)


@DATABASE_ERRORS
def test_healthz_says_503_itself_when_the_database_is_down(client, db, settings, error_class):
    settings.CELERY_BROKER_URL = "filesystem://"
    with _database_down(error_class):
        response = _unraising().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "unreachable"
    _reveals_nothing(response)


def test_a_bug_in_the_api_answers_a_json_500(org, owner):
    _token, raw = ApiToken.issue(org=org, name="Till", created_by=owner)
    with mock.patch("surveys.api.parse_interaction", side_effect=RuntimeError(SECRET_DETAIL)):
        response = _unraising().post(
            "/api/v1/interactions",
            {"customer": {"email": "jo@example.com"}, "touchpoint": "x"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["errors"]["__all__"]
    _reveals_nothing(response)
    assert "RuntimeError" not in response.content.decode()


def test_a_bug_in_a_page_answers_the_plain_500_page(owner_client):
    with mock.patch("accounts.services.user_set_name", side_effect=RuntimeError(SECRET_DETAIL)):
        response = _unraising(owner_client).post("/settings/profile/", {"name": "Alice"})
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert "Something went wrong" in response.content.decode()
    _reveals_nothing(response)


@pytest.mark.parametrize("name", ["500.html", "503.html"])
def test_the_error_pages_render_without_a_database_or_a_request(name):
    with _database_down(OperationalError):
        html = loader.get_template(name).render()
    assert "<h1>" in html
    assert "{%" not in html and "{{" not in html
