"""Heard's outbox: every email is rendered from a template trio, recorded under a unique key,
then sent. ``email_queue`` is for web requests (a row, nothing else); the sweep
``email_send_queued`` sends what is queued; ``email_send_batch`` (many emails, few round
trips) and ``email_send_now`` (one email) are for workers already inside a sweep.

Templates live in ``templates/emails/<name>-subject.txt``, ``<name>-body.txt`` and
``<name>-body.html``.
"""

import contextlib
import email.policy
import functools
import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta
from email.headerregistry import Address, HeaderRegistry
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.text import slugify

from .models import Organisation, OutgoingEmail

log = logging.getLogger(__name__)

# A failing email waits 1, 2, 4 … 64 minutes, then 2 hours between tries: the last of 18
# attempts comes about 22 hours after the first, so a provider outage of most of a day loses
# nothing. Only then is it marked failed.
MAX_ATTEMPTS = 18
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=2)
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
    # headerregistry quotes the display name properly: quotes, commas and a trailing
    # backslash in a business's name can't break out of it.
    # "=?" would start an RFC 2047 encoded word, which Django decodes while checking the
    # address: a name hiding a line break in one would make every email refuse to send.
    name = _clean_header(org.from_name).replace("=?", "= ?")
    return str(Address(display_name=name, addr_spec=address))


def email_build(
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
    """Render an email into an unsaved outbox row. Raises whatever rendering raises."""
    subject, text, html = render_email(template, {"org": org, **context})
    return OutgoingEmail(
        org=org,
        key=key,
        kind=kind,
        to=_clean_header(to),
        from_email=org_from_email(org),
        reply_to=_clean_header(reply_to or (org.reply_to if org else "")),
        subject=_clean_header(subject),
        # PostgreSQL refuses NUL in text: one stray byte in a name must not sink a batch.
        body_text=text.replace("\x00", ""),
        body_html=html.replace("\x00", ""),
        headers={k: _clean_header(v) for k, v in (headers or {}).items()},
    )


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
    outgoing = email_build(
        key=key,
        kind=kind,
        to=to,
        template=template,
        context=context,
        org=org,
        reply_to=reply_to,
        headers=headers,
    )
    try:
        with transaction.atomic():
            outgoing.save(force_insert=True)
            return outgoing
    except IntegrityError:
        # Two requests raced to queue the same email: the first one's row stands.
        return OutgoingEmail.objects.get(key=key)


def open_connection():
    """One connection to the email backend, to reuse for a whole batch of sends."""
    return import_string(settings.EMAIL_BACKEND)()


class _HeaderClasses(HeaderRegistry):
    """The standard registry builds a brand new class for every header of every message
    (``type()`` per ``msg[name] = value``), a good share of the cost of building an email.
    The class only depends on the header's name, so build each once."""

    def __init__(self):
        super().__init__()
        self._classes: dict[str, type] = {}

    def __getitem__(self, name):
        key = name.lower()
        if key not in self._classes:
            self._classes[key] = super().__getitem__(name)
        return self._classes[key]


@functools.cache
def _fast(policy: email.policy.Policy) -> email.policy.Policy:
    if not isinstance(policy, email.policy.EmailPolicy):
        return policy
    return policy.clone(header_factory=_HeaderClasses())


class _OutboxMessage(EmailMultiAlternatives):
    def message(self, *, policy=email.policy.default):
        # Same policy (backends ask for SMTP's), with the header classes built once.
        return super().message(policy=_fast(policy))


def _message(outgoing: OutgoingEmail) -> EmailMultiAlternatives:
    headers = {"Message-ID": f"<{slugify(outgoing.key)[:120]}.{outgoing.pk}@heard>"}
    headers.update(outgoing.headers)
    message = _OutboxMessage(
        subject=outgoing.subject,
        body=outgoing.body_text,
        from_email=outgoing.from_email,
        to=[outgoing.to],
        reply_to=[outgoing.reply_to] if outgoing.reply_to else None,
        headers=headers,
    )
    if outgoing.body_html:
        message.attach_alternative(outgoing.body_html, "text/html")
    return message


def _reopen(connection) -> None:
    """After a failure the SMTP session may be broken: start a fresh one for the rest."""
    with contextlib.suppress(Exception):
        connection.close()
        connection.open()


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed try (1 for the first)."""
    return min(FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16), LONGEST_WAIT)


def _send(outgoing: OutgoingEmail, connection, now) -> str:
    """Hand one claimed row to the provider. Return "" when it went out, else the error,
    which is already recorded on the row."""
    try:
        # Straight to the connection: a message built with one costs a deprecation check
        # that walks the stack, on every email.
        connection.send_messages([_message(outgoing)])
    except Exception as exc:  # the provider's failure is recorded on the row, not raised
        log.warning("Email %s failed: %s", outgoing.key, exc)
        outgoing.attempts += 1
        outgoing.last_error = (str(exc) or exc.__class__.__name__)[:2000]
        if outgoing.attempts >= MAX_ATTEMPTS:
            outgoing.failed_at = now
        outgoing.next_attempt_at = now + retry_delay(outgoing.attempts)
        outgoing.save(update_fields=["attempts", "last_error", "failed_at", "next_attempt_at"])
        _reopen(connection)
        return outgoing.last_error
    return ""


def _send_claimed(rows: list[OutgoingEmail], connection, now) -> dict[str, str]:
    """Send rows this transaction has locked; mark the sent ones in one UPDATE. Return
    {key: error} for the ones that failed."""
    sent, failed = [], {}
    for outgoing in rows:
        error = _send(outgoing, connection, now)
        if error:
            failed[outgoing.key] = error
        else:
            sent.append(outgoing.pk)
            outgoing.sent_at = now
            outgoing.attempts += 1
    if sent:
        OutgoingEmail.objects.filter(pk__in=sent).update(sent_at=now, attempts=F("attempts") + 1)
    return failed


def email_send_queued(*, now=None, batch: int = 200) -> int:
    """Send queued emails, claiming them so that parallel sweeps never send one twice.

    Returns how many went out. The row lock is held while the email is handed to the
    provider and released with the commit that marks it sent.
    """
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            OutgoingEmail.objects.queued()
            .filter(created_at__lte=now)
            .filter(Q(next_attempt_at=None) | Q(next_attempt_at__lte=now))
            .select_for_update(skip_locked=True)
            .order_by("created_at")[:batch]
        )
        if not rows:
            return 0
        with open_connection() as connection:
            failed = _send_claimed(rows, connection, now)
    return len(rows) - len(failed)


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
    """Queue and send at once (for workers). Return True if this call sent it.

    Several round trips per email: a sweep sending many should build them with
    ``email_build`` and hand them to ``email_send_batch``.
    """
    now = now or timezone.now()
    outgoing = email_queue(
        key=key,
        kind=kind,
        to=to,
        template=template,
        context=context,
        org=org,
        reply_to=reply_to,
        headers=headers,
    )
    with transaction.atomic():
        claimed = (
            OutgoingEmail.objects.queued()
            .select_for_update(skip_locked=True)
            .filter(pk=outgoing.pk)
            .first()
        )
        if claimed is None:
            return False
        if connection is None:
            with open_connection() as connection:
                return not _send_claimed([claimed], connection, now)
        return not _send_claimed([claimed], connection, now)


@dataclass
class BatchOutcome:
    """What ``email_send_batch`` did with each key."""

    sent: list[str] = field(default_factory=list)
    # The provider refused these: the error is on the row and the outbox sweep retries them.
    failed: dict[str, str] = field(default_factory=dict)
    # Already sent, given up on, or being sent by another sweep at this moment.
    elsewhere: list[str] = field(default_factory=list)
    # The database refused the row (so nothing was sent): key → why.
    unrecorded: dict[str, str] = field(default_factory=dict)


def _record(emails: list[OutgoingEmail], outcome: BatchOutcome) -> list[str]:
    """Insert the rows, leaving any key already recorded as it is. Return the recorded keys."""
    try:
        with transaction.atomic():
            # In key order: two batches sharing keys then wait on each other in the same
            # order, never in a cycle.
            ordered = sorted(emails, key=lambda e: e.key)
            OutgoingEmail.objects.bulk_create(ordered, ignore_conflicts=True)
        return [e.key for e in emails]
    except DatabaseError:
        # One row the database refuses must not cost the others theirs: retry one by one.
        keys = []
        for outgoing in emails:
            try:
                with transaction.atomic():
                    OutgoingEmail.objects.bulk_create([outgoing], ignore_conflicts=True)
            except DatabaseError as exc:
                log.warning("Email %s could not be recorded: %s", outgoing.key, exc)
                outcome.unrecorded[outgoing.key] = str(exc)[:2000]
            else:
                keys.append(outgoing.key)
        return keys


def email_send_batch(emails: list[OutgoingEmail], *, now, connection=None) -> BatchOutcome:
    """Record a batch of emails built with ``email_build`` and send the ones still unsent.

    A few round trips for the whole batch instead of several per email: one INSERT … ON
    CONFLICT DO NOTHING records every key (before anything is sent), one SELECT … FOR UPDATE
    SKIP LOCKED claims the rows still unsent (a row another sweep holds is that sweep's to
    send), and one UPDATE marks the sent ones; only a failure costs a write of its own, on
    its own row. The locks are held until the caller's transaction commits, if it has one.
    Pass ``connection`` (from ``open_connection()``, opened here when first needed) to keep
    one provider session across batches; the caller closes it.
    """
    outcome = BatchOutcome()
    if not emails:
        return outcome
    with transaction.atomic():
        keys = _record(emails, outcome)
        position = {key: n for n, key in enumerate(keys)}
        rows = sorted(
            OutgoingEmail.objects.queued().filter(key__in=keys).select_for_update(skip_locked=True),
            key=lambda row: position[row.key],
        )
        claimed = {row.key for row in rows}
        outcome.elsewhere = [key for key in position if key not in claimed]
        if not rows:
            return outcome
        if connection is None:
            with open_connection() as connection:
                outcome.failed = _send_claimed(rows, connection, now)
        else:
            connection.open()  # a no-op when it is open already; the caller closes it
            outcome.failed = _send_claimed(rows, connection, now)
    outcome.sent = [row.key for row in rows if row.key not in outcome.failed]
    return outcome


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
            mime = message.message()
            target.write_bytes(mime.as_bytes(policy=mime.policy.clone(linesep="\n")))
        return len(email_messages)
