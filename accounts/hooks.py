"""Outbound webhooks and chat: the event outbox and its sender (docs/architecture.md, "Side
effects after a durable claim", applied to HTTP instead of email).

1. record: every floor's services call ``org_event_record`` inside the transaction of the
   change it describes, so an ``OrgEvent`` exists exactly when the change committed;
2. fan out: the ``send-webhooks`` sweep turns each new event into one ``WebhookDelivery`` per
   endpoint that hears it (unique per endpoint and event, so a second sweep adds nothing);
3. claim: due deliveries are leased (``claimed_by``/``claimed_until``) with SKIP LOCKED and
   the lease commits before anything is sent;
4. send each one, then record the attempt and mark that one row delivered or backing off in
   its own short transaction.

A crash repeats at most the one request in flight, under the same ``webhook-id``, so a
receiver can drop the copy. A failure is retried with the outbox's back-off
(``accounts.mail.retry_delay``: 1, 2, 4 … 64 minutes, then every 2 hours, given up after about
a day); an endpoint that has failed every attempt for three days is switched off and its
business's owners are emailed.

Every request goes only to public addresses: the sender resolves the host itself, refuses the
lot if any address is loopback, private, link-local, multicast, reserved or a cloud metadata
address, and connects to the address it checked (with the original Host header and TLS
server name), so a DNS answer that changes between the check and the connection can't point
it inside. ``settings.DEBUG`` or ``WEBHOOKS_ALLOW_PRIVATE`` lift this for development and
tests. Redirects are never followed, each request has 5-second timeouts, and no more than
64 KB of an answer is read.
"""

import ipaddress
import json
import logging
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from standardwebhooks import Webhook

from .chat import chat_message
from .mail import MAX_ATTEMPTS, email_queue, retry_delay
from .models import (
    Membership,
    Organisation,
    OrgEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)

# Each delivery takes at most about TIMEOUT * 2 (connect, then the answer): a batch of five
# finishes well inside its lease, so no other sweep takes a row that is still being sent.
CLAIM_LEASE = timedelta(minutes=2)
CLAIM_BATCH = 5
FAN_OUT_BATCH = 200
TIMEOUT = 5.0
MAX_BODY = 64 * 1024
EXCERPT_BYTES = 500
USER_AGENT = "Heard-Webhooks/1"
# Cloud metadata services. Most are link-local or private already; named so the rule is plain.
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}
# The events an owner may choose (the test event is sent only by its button).
EVENT_TYPES = [t for t in OrgEvent.Type if t != OrgEvent.Type.TEST]


def org_event_record(
    *, org: Organisation, type: str, payload: dict, now: datetime, key: str = ""
) -> OrgEvent | None:
    """Record that ``type`` happened in ``org``, in the caller's transaction. With ``key``,
    a fact recorded under that key before is not recorded again. Returns the new event, or
    None when nothing was recorded.

    For every floor's services: call it inside the transaction of the change it describes,
    with the data README's "Webhooks and chat" documents for that type. A business with no
    endpoint switched on records nothing (there is no one to tell, and no table to grow).
    ``customer.replied`` is recorded when a customer's email reply reaches an action, with
    ``{"action": {...}, "customer": {"email"}, "text"}``.
    """
    if type not in OrgEvent.Type.values:
        raise ValueError(f"Unknown event type {type!r}.")
    if not org_listens(org):
        return None
    if key and OrgEvent.objects.filter(key=key).exists():
        return None
    event = OrgEvent(org=org, type=type, payload=payload, created_at=now, key=key)
    try:
        # A savepoint: two sweeps racing on one key leave the first event, not an error.
        with transaction.atomic():
            event.save(force_insert=True)
    except IntegrityError:
        if not key:
            raise
        return None
    return event


def org_listens(org: Organisation) -> bool:
    """Whether any endpoint of ``org`` is switched on: callers whose payload costs queries
    ask first (one indexed EXISTS)."""
    return WebhookEndpoint.objects.filter(org=org, enabled=True).exists()


# Fan-out ------------------------------------------------------------------------------------


def org_events_fan_out(*, now: datetime, batch: int = FAN_OUT_BATCH) -> int:
    """Turn new events into deliveries, one per endpoint that hears each. Returns how many
    events it handled. An event that can't be fanned out is marked with the reason; the
    rest go on."""
    handled = 0
    while True:
        with transaction.atomic():
            events = list(
                OrgEvent.objects.filter(fanned_out_at=None)
                .select_for_update(skip_locked=True)
                .order_by("created_at", "pk")[:batch]
            )
            endpoints: dict[int, list[WebhookEndpoint]] = {}
            for endpoint in WebhookEndpoint.objects.enabled().filter(
                org_id__in={e.org_id for e in events}
            ):
                endpoints.setdefault(endpoint.org_id, []).append(endpoint)
            for event in events:
                _fan_out_one(event, endpoints.get(event.org_id, []), now)
            handled += len(events)
        if len(events) < batch:
            return handled


def _fan_out_one(event: OrgEvent, endpoints: list[WebhookEndpoint], now: datetime) -> None:
    try:
        with transaction.atomic():
            WebhookDelivery.objects.bulk_create(
                [
                    WebhookDelivery(org_id=event.org_id, endpoint=e, event=event, created_at=now)
                    for e in endpoints
                    # An endpoint hears what happened after it was added, not before.
                    if e.created_at <= event.created_at and e.hears(event)
                ],
                ignore_conflicts=True,
            )
            OrgEvent.objects.filter(pk=event.pk).update(fanned_out_at=now)
    except (DatabaseError, ValueError, TypeError, AttributeError) as exc:
        log.warning("Event %s could not be fanned out: %s", event.code, exc)
        OrgEvent.objects.filter(pk=event.pk).update(
            fanned_out_at=now, fan_out_error=str(exc)[:2000] or exc.__class__.__name__
        )


# Sending ------------------------------------------------------------------------------------


@dataclass
class Answer:
    """What came back from one request."""

    status: int | None = None
    excerpt: str = ""
    size: int = 0
    truncated: bool = False
    latency_ms: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address Heard won't send to."""


def _private_allowed() -> bool:
    return bool(settings.DEBUG or getattr(settings, "WEBHOOKS_ALLOW_PRIVATE", False))


def address_forbidden(address: str) -> bool:
    """Whether an IP address is anything but an ordinary public one. An IPv6 address that
    carries an IPv4 one (mapped, 6to4, Teredo) is judged by that one too."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    candidates = [ip]
    if ip.version == 6:
        teredo = ip.teredo
        candidates += [a for a in (ip.ipv4_mapped, ip.sixtofour, teredo and teredo[1]) if a]
    return any(
        not c.is_global
        or c.is_loopback
        or c.is_private
        or c.is_link_local
        or c.is_multicast
        or c.is_reserved
        or c.is_unspecified
        or c in METADATA_ADDRESSES
        for c in candidates
    )


def resolve_public(host: str, port: int) -> str:
    """Resolve ``host`` and check every address it has; return the one to connect to.

    Every address must pass, not just the first: a resolver may hand the connection any of
    them."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"{host} could not be resolved ({exc}).") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise AddressRefused(f"{host} has no address.")
    if not _private_allowed():
        for address in addresses:
            if address_forbidden(address):
                raise AddressRefused(f"{host} is {address}, which is not a public address.")
    return addresses[0]


def webhook_url_problem(url: str) -> str:
    """Why an owner can't use ``url`` for a webhook ('' when they can). Only what can be
    told without the network: the sender checks the addresses again on every request."""
    parts = urlsplit(url or "")
    if parts.username or parts.password:
        return gettext("Leave user names and passwords out of the URL.")
    if parts.scheme != "https" and not _private_allowed():
        return gettext("Use an https:// URL: the events carry your customers' words.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return gettext("Use an https:// URL.")
    try:
        _ = parts.port  # urlsplit checks the port only when asked
    except ValueError:
        return gettext("That port is not a number from 1 to 65535.")
    if _private_allowed():
        return ""
    host = parts.hostname
    try:
        forbidden = address_forbidden(host)
    except ValueError:  # a name, not an address: checked when sending, after resolving it
        forbidden = host == "localhost" or host.endswith(".localhost")
    return gettext("Heard only sends to public addresses, not to this one.") if forbidden else ""


def http_post(url: str, body: bytes, headers: dict) -> Answer:
    """POST ``body`` to ``url`` at a checked public address. Never raises: a failure is the
    Answer's ``error``."""
    started = time.monotonic()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Answer(error="Only http and https URLs can be sent to.")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = resolve_public(host, port)
    except (AddressRefused, ValueError) as exc:
        return Answer(error=str(exc))
    shown_host = f"[{host}]" if ":" in host else host
    host_header = shown_host if parts.port is None else f"{shown_host}:{parts.port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = urllib3.Timeout(connect=TIMEOUT, read=TIMEOUT)
    # The connection goes to the checked address; the Host header and the TLS server name
    # (and certificate check) stay the URL's host.
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
    request_headers = {
        **headers,
        "Host": host_header,
        "User-Agent": USER_AGENT,
        # A compressed answer could expand far beyond what was read off the wire.
        "Accept-Encoding": "identity",
    }
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                path,
                body=body,
                headers=request_headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            try:
                data, truncated = _read_capped(response)
            finally:
                response.close()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return Answer(error=_error_text(exc), latency_ms=_ms_since(started))
    answer = Answer(
        status=response.status,
        excerpt=data[:EXCERPT_BYTES].decode("utf-8", "replace").replace("\x00", ""),
        size=len(data),
        truncated=truncated,
        latency_ms=_ms_since(started),
    )
    if 300 <= response.status < 400:
        answer.error = "Redirects are not followed: give the final URL."
    elif not answer.ok:
        answer.error = f"The endpoint answered {response.status}."
    return answer


def _read_capped(response) -> tuple[bytes, bool]:
    """Read at most MAX_BODY bytes of the answer; say whether there was more."""
    chunks, size = [], 0
    while size <= MAX_BODY:
        chunk = response.read(min(16 * 1024, MAX_BODY + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    return data[:MAX_BODY], len(data) > MAX_BODY


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _error_text(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    return f"{reason.__class__.__name__}: {reason}"[:2000]


def webhook_headers(*, endpoint: WebhookEndpoint, webhook_id: str, body: str, at: datetime):
    """The Standard Webhooks headers for ``body`` sent at ``at``: one signature per secret in
    force, space-separated (both the old and the new one for a day after a rotation)."""
    at = at.astimezone(UTC)
    signatures = [
        Webhook(secret).sign(msg_id=webhook_id, timestamp=at, data=body)
        for secret in endpoint.signing_secrets(at)
    ]
    return {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def _request(delivery: WebhookDelivery) -> tuple[bytes, dict]:
    endpoint, event = delivery.endpoint, delivery.event
    if endpoint.is_chat:
        # The vendor's URL is the credential; their formats carry no signature.
        body = json.dumps(chat_message(endpoint, event), ensure_ascii=False)
        return body.encode(), {"Content-Type": "application/json; charset=utf-8"}
    body = json.dumps(event.envelope(), ensure_ascii=False, separators=(",", ":"))
    # Signed as it leaves, with the clock's time: receivers refuse stale timestamps.
    headers = webhook_headers(
        endpoint=endpoint, webhook_id=delivery.webhook_id, body=body, at=timezone.now()
    )
    return body.encode(), headers


def _claim(now: datetime, limit: int) -> tuple[str, list[WebhookDelivery]]:
    """Lease up to ``limit`` due deliveries and commit the lease before anything is sent."""
    claim = uuid.uuid4().hex
    with transaction.atomic():
        pks = list(
            WebhookDelivery.objects.sendable(now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not pks:
            return claim, []
        # Re-checked in the UPDATE: without row locks (SQLite) a row another sweep leased
        # meanwhile is not taken twice.
        WebhookDelivery.objects.sendable(now).filter(pk__in=pks).update(
            claimed_by=claim, claimed_until=timezone.now() + CLAIM_LEASE
        )
    rows = WebhookDelivery.objects.filter(claimed_by=claim).select_related("endpoint__org", "event")
    return claim, list(rows.order_by("created_at", "pk"))


def _send_one(delivery: WebhookDelivery) -> tuple[datetime, Answer]:
    started_at = timezone.now()
    try:
        body, headers = _request(delivery)
    except Exception as exc:  # a row that can't be built is recorded on itself, not raised
        log.exception("Webhook delivery %s could not be built", delivery.code)
        return started_at, Answer(error=f"Heard could not build this message: {exc}"[:2000])
    return started_at, http_post(delivery.endpoint.url, body, headers)


def _mark(delivery: WebhookDelivery, claim: str, started_at, answer: Answer, now) -> None:
    """Record the attempt and the delivery's new state in one short transaction."""
    # The wait counts from the failure, not from the start of a long sweep.
    done_at = max(now, timezone.now())
    attempts = delivery.attempts + 1
    if answer.ok:
        change = {"delivered_at": done_at, "last_error": ""}
    else:
        change = {
            "last_error": answer.error[:2000],
            "next_attempt_at": done_at + retry_delay(attempts),
            "failed_at": done_at if attempts >= MAX_ATTEMPTS else None,
        }
    with transaction.atomic():
        mine = WebhookDelivery.objects.filter(pk=delivery.pk, claimed_by=claim).update(
            attempts=attempts, claimed_by="", claimed_until=None, **change
        )
        if not mine:
            return  # another sweep took the lease over after a long stall: it has the row
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=attempts,
            started_at=started_at,
            status_code=answer.status,
            latency_ms=answer.latency_ms,
            response_excerpt=answer.excerpt,
            response_bytes=answer.size,
            response_truncated=answer.truncated,
            error=answer.error[:2000],
        )
        _endpoint_health(delivery.endpoint_id, ok=answer.ok, at=done_at)


def _endpoint_health(endpoint_id: int, *, ok: bool, at: datetime) -> None:
    if ok:
        WebhookEndpoint.objects.filter(pk=endpoint_id).exclude(failing_since=None).update(
            failing_since=None
        )
        return
    endpoint = WebhookEndpoint.objects.select_for_update().select_related("org").get(pk=endpoint_id)
    if endpoint.failing_since is None:
        endpoint.failing_since = at
        endpoint.save(update_fields=["failing_since"])
    elif endpoint.enabled and endpoint.failing_too_long(at):
        _switch_off_failing(endpoint, at)


def _switch_off_failing(endpoint: WebhookEndpoint, at: datetime) -> None:
    """Switch off an endpoint that has failed for three days and tell the owners, once: the
    email's key names this run of failures."""
    since = endpoint.failing_since
    webhook_endpoint_switch_off(
        endpoint=endpoint,
        now=at,
        reason=f"Every attempt failed for {endpoint.DISABLE_AFTER.days} days.",
    )
    url = settings.SITE_URL + reverse("accounts:integration_detail", args=[endpoint.code])
    for owner in endpoint.org.owners():
        email_queue(
            key=f"webhook-disabled:{endpoint.code}:{int(since.timestamp())}:{owner.pk}",
            kind="webhook_disabled",
            to=owner.user.email,
            template="webhook-disabled",
            org=endpoint.org,
            context={"endpoint": endpoint, "member": owner, "since": since, "url": url},
        )


def webhooks_send_due(*, now: datetime, budget: float = 50.0) -> dict[str, int]:
    """The ``send-webhooks`` sweep: fan out new events, then send every due delivery, batch
    after batch, for up to ``budget`` seconds (the next tick carries on). One delivery that
    fails or can't be built never stops the others."""
    outcome = {"events": org_events_fan_out(now=now), "delivered": 0, "failed": 0}
    started = time.monotonic()
    while time.monotonic() - started < budget:
        claim, rows = _claim(now, CLAIM_BATCH)
        for delivery in rows:
            started_at, answer = _send_one(delivery)
            _mark(delivery, claim, started_at, answer, now)
            outcome["delivered" if answer.ok else "failed"] += 1
        if len(rows) < CLAIM_BATCH:
            break
    return outcome


# Endpoints: what owners do on /settings/integrations/ ---------------------------------------


def webhook_endpoint_create(
    *,
    org: Organisation,
    kind: str,
    url: str,
    events: list[str],
    description: str,
    touchpoints: list[str],
    by: Membership,
    now: datetime,
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint; return it with its signing secret (empty for chat), shown once."""
    secret = "" if kind != WebhookEndpoint.Kind.WEBHOOK else WebhookEndpoint.new_secret()
    endpoint = WebhookEndpoint.objects.create(
        org=org,
        kind=kind,
        url=url,
        events=list(events),
        description=description,
        touchpoints=list(touchpoints),
        secret=secret,
        created_by=by,
        created_at=now,
    )
    return endpoint, secret


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str,
    events: list[str],
    description: str,
    touchpoints: list[str],
    now: datetime,
) -> None:
    endpoint.url, endpoint.events, endpoint.description = url, list(events), description
    endpoint.touchpoints = list(touchpoints)
    endpoint.save(update_fields=["url", "events", "description", "touchpoints"])


def webhook_endpoint_rotate(*, endpoint: WebhookEndpoint, now: datetime) -> str:
    """A new signing secret, returned once; the old one keeps signing for a day alongside it
    so receivers can switch over without missing a message."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = now + WebhookEndpoint.ROTATION_OVERLAP
        endpoint.secret = WebhookEndpoint.new_secret()
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    return endpoint.secret


def webhook_endpoint_switch_on(*, endpoint: WebhookEndpoint, now: datetime) -> None:
    """Switch an endpoint back on. Deliveries still pending go out; from a clean slate."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=True, disabled_at=None, disabled_reason="", failing_since=None
    )
    endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason = True, None, ""
    endpoint.failing_since = None


def webhook_endpoint_switch_off(
    *, endpoint: WebhookEndpoint, now: datetime, reason: str = "Switched off by an owner."
) -> bool:
    """Stop sending to an endpoint (events are no longer fanned out to it and its pending
    deliveries wait). Returns False if it was off already."""
    changed = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_at=now, disabled_reason=reason[:300]
    )
    if changed:
        endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason = False, now, reason
    return bool(changed)


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, now: datetime) -> None:
    """Remove an endpoint with its deliveries and their log."""
    endpoint.delete()


def webhook_endpoint_test(*, endpoint: WebhookEndpoint, now: datetime) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this one endpoint; the sweep sends it within
    seconds and the log shows what came back."""
    with transaction.atomic():
        event = OrgEvent.objects.create(
            org=endpoint.org,
            type=OrgEvent.Type.TEST,
            payload={
                "message": "A test event from Heard.",
                "endpoint": {"code": str(endpoint.code), "description": endpoint.description},
            },
            created_at=now,
            # Never fanned out: it is for this endpoint alone.
            fanned_out_at=now,
        )
        return WebhookDelivery.objects.create(
            org=endpoint.org,
            endpoint=endpoint,
            event=event,
            kind=WebhookDelivery.Kind.TEST,
            created_at=now,
        )


def webhook_delivery_replay(*, delivery: WebhookDelivery, now: datetime) -> WebhookDelivery:
    """Send the same event again as a new delivery with its own ``webhook-id`` (a receiver
    that dropped the first one as a duplicate takes this one)."""
    return WebhookDelivery.objects.create(
        org_id=delivery.org_id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        kind=WebhookDelivery.Kind.REPLAY,
        replay_of=delivery,
        created_at=now,
    )


def site_url(path: str) -> str:
    """An absolute link to a page of Heard, for payloads."""
    return settings.SITE_URL.rstrip("/") + path
