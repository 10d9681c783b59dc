"""Building outbox emails: accounts.fastmail.OutboxMessage against Django's plain
EmailMultiAlternatives, over the same messages. Prints microseconds per message for each.

    DJANGO_SETTINGS_MODULE=tests.settings .venv/bin/python bench/bench_fastmail.py
"""

import email.policy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django

django.setup()

from django.core.mail import EmailMultiAlternatives  # noqa: E402

from accounts.fastmail import OutboxMessage  # noqa: E402

N = 3000


def build(cls, n):
    message = cls(
        subject=f"How was your visit? ({n})",
        body="Hello Pat,\n\nOne question about your repair.\n" * 5,
        from_email="Spokes & Sprockets <hello@spokes.example>",
        to=[f"pat{n}@example.com"],
        reply_to=["sam@spokes.example"],
        headers={
            "Message-ID": f"<{n}@spokes.example>",
            "Date": "Wed, 14 Jan 2026 10:00:00 -0000",
            "List-Unsubscribe": f"<https://heard.example/s/{n}/unsubscribe/>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative("<p>Hello Pat,</p>" * 5, "text/html")
    return message.message(policy=email.policy.SMTP).as_bytes()


def per_message(cls) -> float:
    build(cls, 0)  # warm caches
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for n in range(N):
            build(cls, n)
        best = min(best, time.perf_counter() - started)
    return best / N * 1e6


if __name__ == "__main__":
    plain, fast = per_message(EmailMultiAlternatives), per_message(OutboxMessage)
    print(f"plain EmailMultiAlternatives: {plain:.0f} µs/message")
    print(f"OutboxMessage:                {fast:.0f} µs/message ({plain / fast:.2f}x)")
