"""The security baseline: a nonce-based CSP on every page, production settings that pass
Django's deploy checks, and a production start that refuses to run without its secret."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

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
