"""Readiness checks for /healthz: can Heard reach its database and its broker?

/healthz is public, so a failed check answers only "unreachable": the exception (which can
name hosts, ports and users) goes to the log.
"""

import logging
import os
from pathlib import Path

from django.conf import settings
from django.db import connection

logger = logging.getLogger("heard.health")


def database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("Health check: the database is unreachable", exc_info=True)
        return False, "unreachable"
    return True, "ok"


def broker_ok() -> tuple[bool, str]:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        folder = Path(options.get("data_folder_in") or settings.VAR_DIR / "celery" / "queue")
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
        return writable, "ok" if writable else "not writable"
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis  # only when the broker is Redis: a file-broker laptop never loads it

        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
            client.ping()
        except Exception:
            logger.warning("Health check: the broker is unreachable", exc_info=True)
            return False, "unreachable"
        return True, "ok"
    return True, "unchecked"
