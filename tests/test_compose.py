"""docker-compose.yml is valid against the Compose Specification and describes the whole
production stack; .env.example names every variable the settings read. (There is no Docker
engine here: this is as far as a test can go without one.)"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return YAML(typ="safe").load(COMPOSE.read_text())


def test_it_validates_against_the_compose_specification():
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_runs_the_whole_stack_with_health_checks(compose):
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "migrate"} <= set(services)
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert "gunicorn" in services["web"]["command"]
    assert services["beat"]["deploy"]["replicas"] == 1


def test_the_app_services_share_one_configuration_and_wait_for_migrations(compose):
    services = compose["services"]
    for name in ("web", "worker", "beat"):
        service = services[name]
        assert service["env_file"] == ".env"
        assert service["environment"]["DEBUG"] == "0"
        assert "DATABASE_URL" in service["environment"]
        assert "REDIS_URL" in service["environment"]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert {"pgdata", "media"} <= set(compose["volumes"])


def test_the_image_runs_as_a_non_root_user_with_collected_static_files():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.13-slim" in dockerfile
    assert "pip install -r requirements.lock" in dockerfile
    assert "collectstatic" in dockerfile
    assert re.search(r"^USER heard$", dockerfile, re.M)
    assert '"gunicorn", "feedback.wsgi"' in dockerfile


def test_env_example_names_every_variable_the_settings_read():
    settings = (ROOT / "feedback" / "settings.py").read_text()
    read = set(re.findall(r"env_(?:str|bool|int|list)\(\s*[\"']([A-Z_]+)[\"']", settings))
    read |= set(re.findall(r"os\.environ\.get\(\s*[\"']([A-Z_]+)[\"']", settings))
    read -= {"HEARD_TESTING"}  # the test suite's own switch
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"
    assert "ANYMAIL_PROVIDER" in listed


def test_the_readme_documents_every_variable_too():
    settings = (ROOT / "feedback" / "settings.py").read_text()
    read = set(re.findall(r"env_(?:str|bool|int|list)\(\s*[\"']([A-Z_]+)[\"']", settings))
    read |= set(re.findall(r"os\.environ\.get\(\s*[\"']([A-Z_]+)[\"']", settings))
    read -= {"HEARD_TESTING"}
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]+)`", readme, re.M))
    assert read <= documented, f"missing from README's table: {sorted(read - documented)}"


# Values .env.example suggests on purpose instead of the default: compose runs production
# (DEBUG=0) behind a TLS proxy (one X-Forwarded-For hop).
COMPOSE_CHOICES = {"DEBUG", "TRUSTED_PROXY_COUNT"}
LITERAL_DEFAULT = re.compile(
    r"env_(str|bool|int)\(\s*[\"']([A-Z_]+)[\"']\s*,\s*(\"[^\"]*\"|'[^']*'|[0-9_]+|True|False)\s*\)"
)


def _same(kind: str, default: str, shown: str) -> bool:
    if kind == "bool":
        return {"True": "1", "False": "0"}[default] == shown
    if kind == "int":
        return shown.isdigit() and int(default.replace("_", "")) == int(shown)
    return default[1:-1] == shown


def _literal_defaults() -> dict[str, tuple[str, str]]:
    settings = (ROOT / "feedback" / "settings.py").read_text()
    return {name: (kind, value) for kind, name, value in LITERAL_DEFAULT.findall(settings)}


def test_env_example_and_readme_show_the_settings_defaults():
    defaults = _literal_defaults()
    assert {"ACCOUNT_EMAIL_VERIFICATION", "LOGIN_ATTEMPTS_LIMIT", "EMAIL_PORT"} <= set(defaults)
    example = (ROOT / ".env.example").read_text()
    suggested = dict(re.findall(r"^#([A-Z][A-Z0-9_]+)=(.+)$", example, re.M))
    readme = (ROOT / "README.md").read_text()
    documented = dict(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|\s*`([^`]*)`", readme, re.M))
    wrong = [
        f"{where}: {name}={shown} (default {value})"
        for where, shown_values, skip in (
            (".env.example", suggested, COMPOSE_CHOICES),
            ("README", documented, set()),
        )
        for name, (kind, value) in defaults.items()
        if name in shown_values and name not in skip
        if not _same(kind, value, (shown := shown_values[name].strip()))
    ]
    assert not wrong, wrong
