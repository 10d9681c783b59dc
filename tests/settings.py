"""Test settings: Heard's settings with a fast hasher, in-memory email and cache."""

from feedback.settings import *  # noqa: F403
from feedback.settings import BASE_DIR, REDIS_URL, TEMPLATES

# The emails only tests send (template="test") live with the tests, not among Heard's own.
TEMPLATES = [{**TEMPLATES[0], "DIRS": [*TEMPLATES[0]["DIRS"], BASE_DIR / "tests" / "templates"]}]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Worker tests use the real Redis when REDIS_URL is set (CI), otherwise Kombu's memory broker.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
SITE_URL = "http://testserver"
# Tests serve static files through the finders; there is no collected STATIC_ROOT to scan.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
