"""Settings for bench/bench_surveys.py only: Heard's settings plus a bare "ok" view to compare
the survey page with."""

from feedback.settings import *  # noqa: F403

ROOT_URLCONF = "bench.surveys_urls"
