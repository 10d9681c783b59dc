"""Heard's outbox: every email is rendered from a template trio, recorded under a unique key,
then sent, in that order and in separate transactions (docs/architecture.md, "Side effects
after a durable claim"):

1. record: ``email_queue`` (one row, for web requests) or ``email_record`` (a batch, inside
   the sweep's own transaction, with whatever caused the emails);
2. claim: ``email_deliver`` leases due rows and commits the lease;
3. send each message, then mark that one row sent in its own short transaction.

A crash at any point repeats at most the one message being handed over, under the same
Message-ID (``message_id``), and loses nothing: the ``send_queued_emails`` sweep
(``email_send_queued``) sends whatever is recorded and unsent. ``email_send_batch`` and
``email_send_now`` record and deliver in one call, for workers outside a transaction.

Templates live in ``templates/emails/<name>-subject.txt``, ``<name>-body.txt`` and
``<name>-body.html``.
"""

import contextlib
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, InvalidMailer, mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.text import slugify

from .fastmail import OutboxMessage
from .models import Organisation, OutgoingEmail

log = logging.getLogger(__name__)

# A failing email waits 1, 2, 4 … 64 minutes, then 2 hours between tries: the last of 18
# attempts comes about 22 hours after the first, so a provider outage of most of a day loses
# nothing. Only then is it marked failed.
MAX_ATTEMPTS = 18
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=2)
# A sweep leases the rows it is about to send for this long (renewed while it works through
# them); a worker killed mid-batch leaves the rest to the next sweep once the lease ends.
CLAIM_LEASE = timedelta(seconds=60)
CLAIM_BATCH = 100
# Every character str.splitlines() breaks on, and NUL: Django refuses a header holding any of
# them, so one in a business's name would stop all of its email.
_HEADER_UNSAFE = re.compile("[\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


# Emails to a customer, written in the customer's language when the caller names none (the
# others go to the business's people, in LANGUAGE_CODE).
CUSTOMER_TEMPLATES = frozenset(
    {
        "survey-invitation",
        "survey-reminder",
        "loop-message",
        "late-note",
        "public-confirm",
        "public-confirmed",
        "followup",
        "review-offer",
    }
)


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
    language: str | None = None,
) -> OutgoingEmail:
    """Render an email into an unsaved outbox row. Raises whatever rendering raises.

    It is written in ``language``; without one, a customer's email (``CUSTOMER_TEMPLATES``)
    is in that customer's language as ``org`` resolves it (a visitor's, with no ``customer``,
    in the language active now), and any other email in ``LANGUAGE_CODE``. Its
    ``Content-Language`` header says which.
    """
    if language is None:
        customer = context.get("customer")
        if template not in CUSTOMER_TEMPLATES:
            # Staff and owners read Heard in LANGUAGE_CODE, whichever page set the email off
            # (a French customer's answer that reaches a daily cap must not half-translate
            # the owners' notice).
            language = settings.LANGUAGE_CODE
        elif org is not None and hasattr(customer, "locale"):
            language = org.language_for(customer.locale)
        else:
            # A visitor who is not a customer yet (public-confirm): the page they were on.
            language = translation.get_language() or settings.LANGUAGE_CODE
    with translation.override(language):
        subject, text, html = render_email(template, {"org": org, "language": language, **context})
    headers = {**(headers or {}), "Content-Language": language}
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
        message_id=message_id(key),
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
    """One connection to the default mailer (``MAILERS["default"]``), to reuse for a whole
    batch of sends."""
    return mailers.default


def message_id(key: str) -> str:
    """The Message-ID of the email recorded under ``key``: the same on every try, so a
    receiving server can drop the copy a crash after the hand-over makes it send again, and
    keyed with this installation's secret, so two installations never share one."""
    # SHA-1 named explicitly (Django's default until 2028): an email queued before an upgrade
    # keeps its Message-ID when it is retried after it.
    digest = salted_hmac("heard.message-id", key, algorithm="sha1").hexdigest()[:40]
    return f"<{digest}@{_sending_domain()}>"


def _sending_domain() -> str:
    address = settings.DEFAULT_FROM_EMAIL
    if "<" in address:
        address = address.split("<", 1)[1].rstrip(">")
    return address.rpartition("@")[2] or "heard.invalid"


def _message(outgoing: OutgoingEmail, *, verp: bool = False) -> EmailMultiAlternatives:
    """The message for one outbox row. With ``verp`` the envelope sender is the email's own
    bounce address (the From header stays the business's), so a delivery status notification
    from any mail server names the email it is about."""
    headers = {"Message-ID": message_id(outgoing.key)}
    headers.update(outgoing.headers)
    if verp:
        headers["From"] = outgoing.from_email
    message = OutboxMessage(
        subject=outgoing.subject,
        body=outgoing.body_text,
        from_email=outgoing.bounce_address() if verp else outgoing.from_email,
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


@dataclass
class BatchOutcome:
    """What recording and delivering a batch did with each key."""

    sent: list[str] = field(default_factory=list)
    # The provider refused these: the error is on the row and the outbox sweep retries them.
    failed: dict[str, str] = field(default_factory=dict)
    # Already sent, given up on, or being sent by another sweep at this moment.
    elsewhere: list[str] = field(default_factory=list)
    # The database refused the row (so nothing was sent): key → why.
    unrecorded: dict[str, str] = field(default_factory=dict)


def email_record(emails: list[OutgoingEmail]) -> BatchOutcome:
    """Insert rows built with ``email_build``, leaving any key already recorded as it is.

    Runs inside the caller's transaction, so the emails become durable with whatever caused
    them (an invitation marked sent, a notice marked sent) and nothing leaves before that
    commits: ``email_deliver`` sends them afterwards. ``unrecorded`` names the rows the
    database refused; every other key is recorded.
    """
    outcome = BatchOutcome()
    if not emails:
        return outcome
    try:
        with transaction.atomic():
            # In key order: two batches sharing keys then wait on each other in the same
            # order, never in a cycle.
            ordered = sorted(emails, key=lambda e: e.key)
            OutgoingEmail.objects.bulk_create(ordered, ignore_conflicts=True)
        return outcome
    except DatabaseError:
        pass
    # One row the database refuses must not cost the others theirs: retry one by one.
    for outgoing in emails:
        try:
            with transaction.atomic():
                OutgoingEmail.objects.bulk_create([outgoing], ignore_conflicts=True)
        except DatabaseError as exc:
            log.warning("Email %s could not be recorded: %s", outgoing.key, exc)
            outcome.unrecorded[outgoing.key] = str(exc)[:2000]
    return outcome


def _claim(*, keys: list[str] | None, now: datetime, limit: int) -> tuple[str, list]:
    """Lease up to ``limit`` sendable rows to a new claim and commit the lease before
    anything is sent. Return (claim, rows). A worker killed while holding a lease leaves its
    rows to the next sweep once the lease runs out."""
    claim = uuid.uuid4().hex
    sendable = OutgoingEmail.objects.sendable(now)
    if keys is not None:
        sendable = sendable.filter(key__in=keys)
    with transaction.atomic():
        pks = list(
            sendable.select_for_update(skip_locked=True)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not pks:
            return claim, []
        # Re-checked in the UPDATE: on a database without row locks (SQLite) a row another
        # sweep leased in the meantime is not taken twice.
        OutgoingEmail.objects.sendable(now).filter(pk__in=pks).update(
            claimed_by=claim, claimed_until=timezone.now() + CLAIM_LEASE
        )
    rows = OutgoingEmail.objects.filter(claimed_by=claim, sent_at=None)
    return claim, list(rows.order_by("created_at", "pk"))


def _still_ours(claim: str, rows: list, lease_ends: datetime) -> tuple[list, datetime]:
    """Renew the lease on the rows not yet sent once half of it has gone; drop any row whose
    lease another sweep took over (only possible after a very long stall)."""
    now = timezone.now()
    if now < lease_ends - CLAIM_LEASE / 2:
        return rows, lease_ends
    lease_ends = now + CLAIM_LEASE
    pks = [row.pk for row in rows]
    OutgoingEmail.objects.filter(pk__in=pks, claimed_by=claim, sent_at=None).update(
        claimed_until=lease_ends
    )
    kept = set(
        OutgoingEmail.objects.filter(pk__in=pks, claimed_by=claim).values_list("pk", flat=True)
    )
    return [row for row in rows if row.pk in kept], lease_ends


def _mark_sent(outgoing: OutgoingEmail, claim: str) -> None:
    # Its own short transaction (autocommit): a crash after this line sends nothing again.
    OutgoingEmail.objects.filter(pk=outgoing.pk, claimed_by=claim).update(
        sent_at=timezone.now(),
        attempts=F("attempts") + 1,
        claimed_by="",
        claimed_until=None,
        provider_message_id=outgoing.provider_message_id,
    )


def _mark_failed(outgoing: OutgoingEmail, claim: str, error: str, now: datetime) -> None:
    # The wait counts from the failure, not from the start of the sweep: a sweep that sent
    # for a minute before this one failed would otherwise retry it at once.
    failed_at = max(now, timezone.now())
    attempts = outgoing.attempts + 1
    OutgoingEmail.objects.filter(pk=outgoing.pk, claimed_by=claim).update(
        attempts=attempts,
        last_error=error[:2000],
        failed_at=failed_at if attempts >= MAX_ATTEMPTS else None,
        next_attempt_at=failed_at + retry_delay(attempts),
        claimed_by="",
        claimed_until=None,
    )


def _speaks_smtp(connection) -> bool:
    """Only an SMTP session has an envelope sender of its own to set. A provider's API
    reports bounces through its webhooks instead (and some refuse a custom envelope)."""
    return isinstance(connection, SmtpBackend)


def _send_one(outgoing: OutgoingEmail, connection) -> str:
    """Hand one message to the provider. Return "" when it went out, else the error."""
    try:
        # Straight to the connection: a message built with one costs a deprecation check
        # that walks the stack, on every email.
        message = _message(outgoing, verp=_speaks_smtp(connection))
        connection.send_messages([message])
    except Exception as exc:  # the provider's failure is recorded on the row, not raised
        log.warning("Email %s failed: %s", outgoing.key, exc)
        _reopen(connection)
        return str(exc) or exc.__class__.__name__
    # anymail's backends give the provider's id for it, which its webhooks name it by.
    provider_id = getattr(getattr(message, "anymail_status", None), "message_id", None)
    outgoing.provider_message_id = "" if provider_id is None else str(provider_id)[:250]
    return ""


def email_deliver(
    *,
    keys: list[str] | None = None,
    now: datetime,
    connection=None,
    batch: int = CLAIM_BATCH,
) -> BatchOutcome:
    """Send recorded emails that are due: the given keys, or any. Returns what happened.

    Call it outside any transaction: each claim, and each "sent" or "failed" mark, commits
    on its own, so a crash at any point repeats at most the one message being handed over,
    under the same Message-ID. Rows another sweep holds are that sweep's to send.
    """
    outcome = BatchOutcome()
    own = connection is None
    connection = connection or open_connection()
    remaining = None if keys is None else set(keys)
    try:
        while remaining is None or remaining:
            claim, rows = _claim(keys=keys, now=now, limit=batch)
            if not rows:
                break
            _deliver_claimed(claim, rows, connection, now, outcome)
            if remaining is not None:
                remaining -= {row.key for row in rows}
            elif len(rows) < batch:
                break
    finally:
        if own:
            connection.close()
    if keys is not None:
        done = set(outcome.sent) | set(outcome.failed)
        outcome.elsewhere = [key for key in keys if key not in done]
    return outcome


def _deliver_claimed(claim, rows, connection, now, outcome: BatchOutcome) -> None:
    lease_ends = timezone.now() + CLAIM_LEASE
    try:
        connection.open()  # a no-op when it is open already; the caller closes it
    except Exception as exc:  # the provider is unreachable: every claimed row records it
        log.warning("Email provider unreachable: %s", exc)
        for outgoing in rows:
            _mark_failed(outgoing, claim, str(exc) or exc.__class__.__name__, now)
            outcome.failed[outgoing.key] = str(exc)[:2000]
        return
    while rows:
        rows, lease_ends = _still_ours(claim, rows, lease_ends)
        if not rows:
            return
        outgoing, rows = rows[0], rows[1:]
        error = _send_one(outgoing, connection)
        if error:
            _mark_failed(outgoing, claim, error, now)
            outcome.failed[outgoing.key] = error[:2000]
        else:
            _mark_sent(outgoing, claim)
            outcome.sent.append(outgoing.key)


def email_send_batch(emails: list[OutgoingEmail], *, now, connection=None) -> BatchOutcome:
    """Record a batch of emails built with ``email_build`` and send the ones still unsent.

    For callers outside a transaction. A sweep that changes its own rows along with the
    emails records them with ``email_record`` in its transaction and calls
    ``email_deliver`` once that has committed.
    """
    outcome = email_record(emails)
    keys = [e.key for e in emails if e.key not in outcome.unrecorded]
    if not keys:
        return outcome
    delivered = email_deliver(keys=keys, now=now, connection=connection)
    delivered.unrecorded = outcome.unrecorded
    return delivered


def email_send_queued(*, now: datetime, batch: int = CLAIM_BATCH, budget: float = 50.0) -> int:
    """Send every queued email that is due, batch after batch, for up to ``budget`` seconds
    (the next tick carries on). Returns how many went out."""
    sent = 0
    started = time.monotonic()
    with open_connection() as connection:
        while time.monotonic() - started < budget:
            outcome = email_deliver(now=now, connection=connection, batch=batch)
            sent += len(outcome.sent)
            if not outcome.sent and not outcome.failed:
                break
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
    now: datetime,
) -> bool:
    """Record and send one email (for workers, outside a transaction). Return True if this
    call sent it."""
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
    outcome = email_deliver(keys=[outgoing.key], now=now, connection=connection)
    return bool(outcome.sent)


class FileEmailBackend(BaseEmailBackend):
    """Writes each message to its own ``.eml`` file under the mailer's ``file_path`` option
    (``MAILERS["default"]["OPTIONS"]["file_path"]``, ``var/mail/`` in development).

    Open one in any mail client to see exactly what a customer would receive.
    """

    def __init__(self, *args, file_path=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not file_path:
            raise InvalidMailer("OPTIONS must define 'file_path'.", alias=self.alias)
        self.path = Path(file_path)

    def send_messages(self, email_messages):
        self.path.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S-%f")
            recipient = slugify(message.to[0] if message.to else "nobody")[:60]
            target = self.path / f"{stamp}-{recipient}.eml"
            mime = message.message()
            target.write_bytes(mime.as_bytes(policy=mime.policy.clone(linesep="\n")))
        return len(email_messages)
