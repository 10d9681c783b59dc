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
