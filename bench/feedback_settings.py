"""Settings for bench/bench_dashboard.py and bench/bench_wall.py only: Heard's settings, plain
static files (no manifest to build) and a bare "ok" view to compare the wall with."""

import os

from feedback.settings import *  # noqa: F403
from feedback.settings import HEARD

# bench_wall.py --recheck N: the wall's "checked less than N seconds ago" shortcut.
HEARD = {**HEARD, "WALL_RECHECK_SECONDS": float(os.environ.get("BENCH_WALL_RECHECK", "0"))}

ROOT_URLCONF = "bench.feedback_urls"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
