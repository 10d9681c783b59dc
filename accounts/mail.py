"""Heard's outbox: every email is rendered from a template trio, recorded under a unique key,
then sent. ``email_queue`` is for web requests (a row, nothing else); the sweep
``email_send_queued`` sends what is queued; ``email_send_now`` is for workers already inside a
sweep.

Templates live in ``templates/emails/<name>-subject.txt``, ``<name>-body.txt`` and
``<name>-body.html``.
"""

import logging
import re
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.text import slugify

from .models import Organisation, OutgoingEmail

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
_HEADER_UNSAFE = re.compile(r"[\r\n\x00]")


def _clean_header(value: str) -> str:
    """Header values never carry line breaks: a customer's name can't inject headers."""
    return _HEADER_UNSAFE.sub(" ", value or "").strip()


def render_email(name: str, context: dict) -> tuple[str, str, str]:
    """Return (subject, text body, html body) rendered from the trio of templates."""
    context = {"site_url": settings.SITE_URL, **context}
    subject = render_to_string(f"emails/{name}-subject.txt", context)
    subject = " ".join(subject.split())[:250]
    text = render_to_string(f"emails/{name}-body.txt", context).strip() + "\n"
    html = render_to_string(f"emails/{name}-body.html", context)
    return subject, text, html


def org_from_email(org: Organisation | None) -> str:
    """The From header: the organisation's name on Heard's sending address."""
    if org is None:
        return settings.DEFAULT_FROM_EMAIL
    address = settings.DEFAULT_FROM_EMAIL
    if "<" in address:
        address = address.split("<", 1)[1].rstrip(">")
    name = _clean_header(org.from_name).replace('"', "'")
    return f'"{name}" <{address}>'


def email_queue(
    *,
    key: str,
    kind: str,
    to: str,
    template: str,
    context: dict,
    org: Organisation | None = None,
    reply_to: str = "",
    headers: dict | None = None,
) -> OutgoingEmail:
    """Record an email to send; return the row. A key seen before returns the existing row."""
    existing = OutgoingEmail.objects.filter(key=key).first()
    if existing:
        return existing
    subject, text, html = render_email(template, {"org": org, **context})
    try:
        with transaction.atomic():
            return OutgoingEmail.objects.create(
                org=org,
                key=key,
                kind=kind,
                to=_clean_header(to),
                from_email=org_from_email(org),
                reply_to=_clean_header(reply_to or (org.reply_to if org else "")),
                subject=_clean_header(subject),
                body_text=text,
                body_html=html,
                headers={k: _clean_header(v) for k, v in (headers or {}).items()},
            )
    except IntegrityError:
        # Two requests raced to queue the same email: the first one's row stands.
        return OutgoingEmail.objects.get(key=key)


def open_connection():
    """One connection to the email backend, to reuse for a whole batch of sends."""
    return import_string(settings.EMAIL_BACKEND)()


def _message(outgoing: OutgoingEmail, connection) -> EmailMultiAlternatives:
    headers = {"Message-ID": f"<{slugify(outgoing.key)[:120]}.{outgoing.pk}@heard>"}
    headers.update(outgoing.headers)
    message = EmailMultiAlternatives(
        subject=outgoing.subject,
        body=outgoing.body_text,
        from_email=outgoing.from_email,
        to=[outgoing.to],
        reply_to=[outgoing.reply_to] if outgoing.reply_to else None,
        headers=headers,
        connection=connection,
    )
    if outgoing.body_html:
        message.attach_alternative(outgoing.body_html, "text/html")
    return message


def _deliver(outgoing: OutgoingEmail, connection, now) -> bool:
    """Send one claimed row and record the outcome on it. Return True when it went out."""
    try:
        _message(outgoing, connection).send()
    except Exception as exc:  # the provider's failure is recorded on the row, not raised
        log.warning("Email %s failed: %s", outgoing.key, exc)
        outgoing.attempts += 1
        outgoing.last_error = str(exc)[:2000]
        if outgoing.attempts >= MAX_ATTEMPTS:
            outgoing.failed_at = now
        outgoing.save(update_fields=["attempts", "last_error", "failed_at"])
        return False
    outgoing.sent_at = now
    outgoing.attempts += 1
    outgoing.save(update_fields=["sent_at", "attempts"])
    return True


def email_send_queued(*, now=None, batch: int = 200) -> int:
    """Send queued emails, claiming them so that parallel sweeps never send one twice.

    Returns how many went out. The row lock is held while the email is handed to the
    provider and released with the commit that marks it sent.
    """
    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        rows = list(
            OutgoingEmail.objects.queued()
            .filter(created_at__lte=now)
            .exclude(attempts__gt=0, created_at__gt=now - timedelta(minutes=1))
            .select_for_update(skip_locked=True)
            .order_by("created_at")[:batch]
        )
        if not rows:
            return 0
        with open_connection() as connection:
            for outgoing in rows:
                sent += _deliver(outgoing, connection, now)
    return sent


def email_send_now(
    *,
    key: str,
    kind: str,
    to: str,
    template: str,
    context: dict,
    org: Organisation | None = None,
    reply_to: str = "",
    headers: dict | None = None,
    connection=None,
    now=None,
) -> bool:
    """Queue and send at once (for workers). Return True if this call sent it."""
    now = now or timezone.now()
    outgoing = email_queue(
        key=key, kind=kind, to=to, template=template, context=context, org=org,
        reply_to=reply_to, headers=headers,
    )  # fmt: skip
    with transaction.atomic():
        claimed = (
            OutgoingEmail.objects.queued().select_for_update(skip_locked=True)
            .filter(pk=outgoing.pk).first()
        )  # fmt: skip
        if claimed is None:
            return False
        if connection is None:
            with open_connection() as connection:
                return _deliver(claimed, connection, now)
        return _deliver(claimed, connection, now)


class FileEmailBackend(BaseEmailBackend):
    """Writes each message to its own ``.eml`` file under ``EMAIL_FILE_PATH``.

    Open one in any mail client to see exactly what a customer would receive.
    """

    def __init__(self, *args, file_path=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.path = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages):
        self.path.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S-%f")
            recipient = slugify(message.to[0] if message.to else "nobody")[:60]
            target = self.path / f"{stamp}-{recipient}.eml"
            target.write_bytes(message.message().as_bytes(linesep="\n"))
        return len(email_messages)
