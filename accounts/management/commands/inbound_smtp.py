"""``manage.py inbound_smtp``: Heard's own inbound mail server, so bounces, complaints and
replies reach a laptop (or a server whose MX points here) without any provider.

It accepts mail for any address on ``INBOUND_DOMAIN`` (every other recipient is refused at
RCPT with 550, so it is never an open relay) and stores each message through
``accounts.inbound.inbound_message_record`` before answering 250. When the database can't
take it, the answer is 451: the sending server keeps the message and tries again later, so
nothing is lost. SIGTERM or Ctrl-C stops it.
"""

import logging
import signal
import threading

from aiosmtpd.controller import Controller
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection

from accounts.inbound import inbound_message_record, on_inbound_domain

log = logging.getLogger(__name__)

# Bounces carry the original message back; replies can carry a photo or two.
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_RECIPIENTS = 50


def _store(raw_bytes: bytes, recipients: list[str]) -> int:
    close_old_connections()
    try:
        return len(inbound_message_record(raw_bytes=raw_bytes, envelope_to=recipients))
    finally:
        # Messages come seldom: a connection left open would only go stale between them.
        connection.close()


class InboundHandler:
    """aiosmtpd's handler: refuse what isn't ours, store what is."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not on_inbound_domain(address):
            return "550 5.1.1 Not an address this server receives for"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            # The ORM is synchronous: one worker thread does the database work.
            await sync_to_async(_store, thread_sensitive=True)(raw, list(envelope.rcpt_tos))
        except Exception:  # the sender keeps the message and retries: nothing is lost
            log.exception("Inbound message from %s not stored", envelope.mail_from)
            return "451 4.3.0 Could not store the message now; try again later"
        return "250 OK: stored"


def inbound_controller(*, host: str, port: int) -> Controller:
    return Controller(
        InboundHandler(),
        hostname=host,
        port=port,
        server_hostname=settings.INBOUND_DOMAIN,
        data_size_limit=MAX_MESSAGE_BYTES,
        enable_SMTPUTF8=True,
    )


class Command(BaseCommand):
    help = "Receive bounces, complaints and replies for INBOUND_DOMAIN over SMTP."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument(
            "--port", type=int, default=None, help="Port (default: INBOUND_SMTP_PORT, 2525)."
        )

    def handle(self, *args, host, port, **options):
        port = port or settings.INBOUND_SMTP_PORT
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        controller = inbound_controller(host=host, port=port)
        try:
            controller.start()
        except OSError as exc:
            message = f"Can't listen on {host}:{port} ({exc}); set INBOUND_SMTP_PORT."
            raise CommandError(message) from exc
        self.stdout.write(
            f"Receiving mail for *@{settings.INBOUND_DOMAIN} on {host}:{port} (Ctrl-C stops)"
        )
        try:
            stop.wait()
        finally:
            controller.stop()
