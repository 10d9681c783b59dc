"""Settings for bench/bench_dashboard.py and bench/bench_wall.py only: Heard's settings, plain
static files (no manifest to build) and a bare "ok" view to compare the wall with."""

from feedback.settings import *  # noqa: F403

ROOT_URLCONF = "bench.feedback_urls"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
