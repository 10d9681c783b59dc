"""Heard's one settings module.

Everything comes from environment variables, with defaults that run Heard on one laptop with
no services: SQLite and Celery's file-system broker under ``var/``, emails written to
``var/mail/``. Production (``DEBUG=0``) refuses to start without the variables it needs.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HEARD_VAR_DIR", BASE_DIR / "var"))

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"Set the {name} environment variable.")
        return default if default is not None else ""
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
TESTING = env_bool("HEARD_TESTING", False)

# Production must bring its own secret; development gets a fixed, obviously-unsafe one.
SECRET_KEY = env_str("SECRET_KEY", required=not DEBUG) or "dev-only-insecure-key-do-not-deploy"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Set the ALLOWED_HOSTS environment variable (comma-separated).")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])
# A customer's survey left open overnight: a calm page in their language, not Django's own.
CSRF_FAILURE_VIEW = "feedback.errors.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "anymail",
    "django_htmx",
    # django-ninja's templates and static files: its docs page is served from here, not a CDN
    # the CSP would block.
    "ninja",
    "accounts",
    "surveys",
    "actions",
    "feedback",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A database outage in a view answers 503 with Retry-After, never a stack of 500s.
    "feedback.errors.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.MembershipMiddleware",
    # After membership: a member of an organisation that requires 2FA sets it up first.
    "accounts.middleware.RequireMfaMiddleware",
]

ROOT_URLCONF = "feedback.urls"
WSGI_APPLICATION = "feedback.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.membership",
                "feedback.context_processors.floor_links",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'heard.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes (web, worker, beat) share the file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "account_login"

# django-allauth: email is the login; sign-up asks for the business too (accounts.forms).
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
# Mandatory, so sign-up can't tell strangers which addresses have an account: a new address
# and a taken one both get "check your email" (the taken one an "you already have an
# account" email). With "optional", sign-up logs a new account straight in and says so
# when the address is taken.
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_PREVENT_ENUMERATION = True
# The link logs the new owner in, but only in the browser that signed up (allauth checks the
# pending sign-up in the session), so a leaked link is not a login.
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.BusinessSignupForm"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Heard] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https") else "http"
# Failed logins: LOGIN_ATTEMPTS_LIMIT per 5 minutes per account *from one address* (the key is
# account + address, accounts.adapter), so a stranger can't lock an owner out, and a high cap
# of 100 per 10 minutes per address against one address trying many accounts. While the cap
# holds every login from that address is refused, even a right one, so it is set well above
# what a shared office or NAT ever fails by mistake.
ACCOUNT_RATE_LIMITS = {"login_failed": f"100/10m/ip,{env_int('LOGIN_ATTEMPTS_LIMIT', 5)}/300s/key"}

# Two-factor authentication (allauth.mfa): an authenticator app and one-time recovery codes.
# Asked for at every login once set up, the Django admin's included (accounts.admin).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Heard"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
# The languages a customer's pages and emails can be in (README, "Languages"): English is the
# source text, the others are catalogues under locale/, compiled to .mo by `make install`.
# There is no LocaleMiddleware: staff screens stay in LANGUAGE_CODE, and each customer page
# picks its one language itself (surveys.languages), so no page mixes two.
LANGUAGES = [
    ("en", "English"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("ar", "العربية"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # A file cache is shared by web, worker and beat, so rate limits hold across processes.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# Email goes through Django's MAILERS["default"], chosen from the environment: EMAIL_BACKEND
# (any backend's dotted path) wins, then ANYMAIL_PROVIDER (a django-anymail provider; its
# settings come from ANYMAIL_* variables), then SMTP when EMAIL_HOST is set, then, in
# development, one .eml file per message under var/mail/.
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Heard <heard@localhost>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
ANYMAIL_PROVIDER = env_str("ANYMAIL_PROVIDER")
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_") and key != "ANYMAIL_PROVIDER"
}
_smtp_backend = "django.core.mail.backends.smtp.EmailBackend"
_file_backends = {
    "accounts.mail.FileEmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}
_email_host = env_str("EMAIL_HOST")
if env_str("EMAIL_BACKEND"):
    _email_backend = env_str("EMAIL_BACKEND")
elif ANYMAIL_PROVIDER:
    _email_backend = f"anymail.backends.{ANYMAIL_PROVIDER}.EmailBackend"
elif _email_host:
    _email_backend = _smtp_backend
elif DEBUG:
    _email_backend = "accounts.mail.FileEmailBackend"
else:
    raise ImproperlyConfigured(
        "Set ANYMAIL_PROVIDER (with its ANYMAIL_* settings), EMAIL_HOST or EMAIL_BACKEND: "
        "production needs a way to send email."
    )
if _email_backend == _smtp_backend:
    _email_options = {
        "host": _email_host or "localhost",
        "port": env_int("EMAIL_PORT", 587),
        "username": env_str("EMAIL_HOST_USER"),
        "password": env_str("EMAIL_HOST_PASSWORD"),
        "use_tls": env_bool("EMAIL_USE_TLS", True),
        "timeout": env_int("EMAIL_TIMEOUT", 20),
    }
elif _email_backend in _file_backends:
    _email_options = {"file_path": str(VAR_DIR / "mail")}
else:
    # Any other backend (anymail's included) reads its own settings.
    _email_options = {}
MAILERS = {"default": {"BACKEND": _email_backend, "OPTIONS": _email_options}}

# Email that hears back (accounts.inbound): delivery events, bounces, complaints and replies
# arrive through anymail's webhooks under /webhooks/anymail/ or the inbound_smtp listener.
# Webhooks check HTTP basic auth against WEBHOOK_SECRET ("user:password"; comma-separate two
# while rotating) and, where the provider signs them, the signature with its key. Any other
# provider's webhook key comes in through the ANYMAIL_* rule above.
_webhook_settings = {
    "WEBHOOK_SECRET": env_list("ANYMAIL_WEBHOOK_SECRET", []),
    "MAILGUN_WEBHOOK_SIGNING_KEY": env_str("ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY"),
    "SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY": env_str(
        "ANYMAIL_SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY"
    ),
}
ANYMAIL.update({key: value for key, value in _webhook_settings.items() if value})
# The domain of every inbound address (reply, bounce and intake addresses); its MX points at
# the provider's inbound route or at the inbound_smtp listener.
INBOUND_DOMAIN = env_str(
    "INBOUND_DOMAIN",
    "reply.localhost" if DEBUG else f"reply.{urlsplit(SITE_URL).hostname or 'localhost'}",
).lower()
INBOUND_SMTP_PORT = env_int("INBOUND_SMTP_PORT", 2525)

# Celery: Redis when REDIS_URL is set, otherwise the file-system broker under var/celery/.
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
if not REDIS_URL:
    _celery_dir = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        # The exchange tables: runtime state like the rest, never in the checkout.
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }
else:
    # A web request never waits on the broker, but a worker's publish should give up quickly.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 3, "socket_timeout": 5}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Beat only starts short sweeps; each sweep claims due rows in the database
# (docs/architecture.md, "Rows and sweeps").
# Every sweep expires before the next one is due, so a backlog in the broker never piles up.
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "feedback.tasks.heartbeat", "schedule": 60.0, "options": {"expires": 55}},
    "send-queued-emails": {
        "task": "accounts.tasks.send_queued_emails",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    "send-due-invitations": {
        "task": "surveys.tasks.send_due_invitations",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Short, so an action reaches its owner's inbox seconds after the customer submits.
    "route-responses": {
        "task": "actions.tasks.route_responses",
        "schedule": 5.0,
        "options": {"expires": 4},
    },
    "sweep-action-notices": {
        "task": "actions.tasks.sweep_action_notices",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "refresh-dashboard-rollups": {
        "task": "feedback.tasks.refresh_rollups",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    "send-morning-digests": {
        "task": "actions.tasks.send_morning_digests",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    # Weeks after a Yes, "Is it still sorted?" (actions.followups; index follow_up_due), and a
    # day after each loop message, the review offer (actions.reviews; index review_offer_due):
    # both are days away, so every five minutes is prompt enough.
    "send-follow-ups": {
        "task": "actions.tasks.send_follow_ups",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    "send-review-offers": {
        "task": "actions.tasks.send_review_offers",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    # Mail that came back (accounts.inbound stores it): bounces and complaints mark
    # customers, survey replies become words, loop replies reach their action.
    "apply-inbound-to-customers": {
        "task": "surveys.tasks.apply_inbound_to_customers",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    "apply-inbound-to-actions": {
        "task": "actions.tasks.apply_inbound_to_actions",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    # Outbound webhooks and chat: fan new events out, then send what is due.
    "send-webhooks": {
        "task": "accounts.tasks.send_webhooks",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    # Privacy (feedback.privacy): a customer's own "Delete what I told you" within seconds,
    # and each business's retention period once a day.
    "carry-out-erasure-requests": {
        "task": "feedback.tasks.carry_out_erasure_requests",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    "apply-retention": {
        "task": "feedback.tasks.apply_retention",
        "schedule": 86400.0,
        "options": {"expires": 3600},
    },
}
# Outbound webhooks refuse loopback, private, link-local and other non-public addresses so an
# owner can't point Heard at its own network. Development (DEBUG) and tests may allow them.
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", False)

# Security. Scripts only from our own origin or with the per-request nonce; no inline script.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

# Heard's own knobs.
HEARD = {
    "API_RATE_LIMIT_PER_MINUTE": env_int("API_RATE_LIMIT_PER_MINUTE", 120),
    "API_BATCH_LIMIT": 500,
    "API_MAX_BODY_BYTES": env_int("API_MAX_BODY_BYTES", 1_000_000),
    "STAFF_INVITE_TTL": timedelta(days=7),
    "TOKEN_GUESS_LIMIT_PER_MINUTE": env_int("TOKEN_GUESS_LIMIT_PER_MINUTE", 30),
    # 0: every wall request checks that its quotes still have consent, so a withdrawn quote is
    # gone at once. N > 0: a web worker trusts a page it checked within N seconds (faster, but
    # a withdrawn quote may stay up that long).
    "WALL_RECHECK_SECONDS": env_int("WALL_RECHECK_SECONDS", 0),
    # How many proxies in front of Heard append to X-Forwarded-For (0: use the socket's
    # address). Per-address rate limits need the client's own address, not the proxy's.
    "TRUSTED_PROXY_COUNT": env_int("TRUSTED_PROXY_COUNT", 0),
}
ALLAUTH_TRUSTED_PROXY_COUNT = HEARD["TRUSTED_PROXY_COUNT"]
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(dsn=SENTRY_DSN, send_default_pii=False, traces_sample_rate=0.0)
