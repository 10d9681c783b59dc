"""An SMTP sink in this process: it keeps every message it accepted (recipient, Message-ID,
kind) and can be told to answer 451 or 421 for a while, or to take its time over each one."""

import asyncio
import email
import email.policy
import threading
import time
from collections import Counter
from dataclasses import dataclass

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    rcpt: str
    message_id: str
    kind: str
    at: float


def kind_of(message) -> str:
    """What sort of email this is, from what a recipient sees (not from the Message-ID, which
    a retry may change): the survey reminder, the survey invitation, or something else."""
    subject = str(message.get("Subject", ""))
    if subject.startswith("Still a moment?"):
        return "survey-reminder"
    if message.get("List-Unsubscribe"):
        return "survey-invitation"
    return "other:" + subject[:60]


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.sink.mode == "421":
            self.sink.refused += 1
            return "421 4.3.2 Service not available, closing transmission channel"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.sink.mode == "451":
            self.sink.refused += 1
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.mode == "451":
            self.sink.refused += 1
            return "451 4.3.0 Try again later"
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message_id = str(message.get("Message-ID", "")).strip()
        kind = kind_of(message)
        now = time.monotonic()
        with self.sink.lock:
            for rcpt in envelope.rcpt_tos:
                self.sink.messages.append(Received(rcpt.lower(), message_id, kind, now))
        return "250 OK"


class Sink:
    def __init__(self, port: int):
        self.port = port
        self.mode = "ok"  # "ok", "451" or "421"
        self.delay = 0.0  # seconds per accepted message
        self.refused = 0
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=port, ready_timeout=10
        )

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def matching(self, suffix: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.rcpt.endswith(suffix)]

    def count(self, suffix: str) -> int:
        return len(self.matching(suffix))

    def stats(self, suffix: str, expected: set[str]) -> dict:
        """Counts for the recipients ending in ``suffix``; ``expected`` are the addresses that
        must each get exactly one survey invitation."""
        got = self.matching(suffix)
        by_id = Counter(m.message_id for m in got)
        by_key = Counter((m.rcpt, m.kind) for m in got)
        reached = {m.rcpt for m in got if m.kind == "survey-invitation"}
        return {
            "received": len(got),
            "distinct": len(by_id),
            "dup_message_id": sum(n - 1 for n in by_id.values()),
            "duplicates": sum(n - 1 for n in by_key.values()),
            "lost": len(expected - reached),
            "last_at": max((m.at for m in got), default=None),
        }
