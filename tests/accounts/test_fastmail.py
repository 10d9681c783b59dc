"""accounts.fastmail builds the same email as Django's plain EmailMultiAlternatives."""

import email.policy
import re

import pytest
from django.core.mail import EmailMultiAlternatives

from accounts.fastmail import HeaderClasses, OutboxMessage, fast_policy

MESSAGES = [
    {
        "subject": "How was your visit?",
        "body": "Hello Pat,\n\nOne question.\n",
        "from_email": "Spokes & Sprockets <hello@spokes.example>",
        "to": ["pat@example.com"],
        "reply_to": ["sam@spokes.example"],
        "headers": {
            "List-Unsubscribe": "<https://heard.example/s/abc/unsubscribe/>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "html": "<p>Hello Pat,</p>",
    },
    {
        "subject": "Zoë's café — a very long subject line " * 4,
        "body": "Grüße aus Köln: ✓ " * 40,
        "from_email": "Café Ünïcode <hallo@cafe.example>",
        "to": ["jürgen@example.com"],
        "reply_to": [],
        "headers": {"X-Heard-Kind": "loop_message"},
        "html": "",
    },
]


def _bytes(cls, spec, policy):
    message = cls(
        subject=spec["subject"],
        body=spec["body"],
        from_email=spec["from_email"],
        to=spec["to"],
        reply_to=spec["reply_to"] or None,
        headers={
            "Message-ID": "<fixed@heard.example>",
            "Date": "Wed, 14 Jan 2026 10:00:00 -0000",
            **spec["headers"],
        },
    )
    if spec["html"]:
        message.attach_alternative(spec["html"], "text/html")
    # MIME boundaries are random: compare everything else.
    return re.sub(rb"=+\d+==", b"BOUNDARY", message.message(policy=policy).as_bytes())


@pytest.mark.parametrize("spec", MESSAGES)
@pytest.mark.parametrize("policy", [email.policy.SMTP, email.policy.default])
def test_it_builds_the_same_bytes_as_the_plain_message(spec, policy):
    for _ in range(2):  # the second time with the header classes already built
        assert _bytes(OutboxMessage, spec, policy) == _bytes(EmailMultiAlternatives, spec, policy)


def test_it_builds_each_header_class_once():
    registry = HeaderClasses()

    assert registry["Subject"] is registry["subject"]
    assert registry["X-Custom"] is registry["x-custom"]


def test_it_keeps_one_policy_per_policy_and_leaves_compat32_alone():
    assert fast_policy(email.policy.SMTP) is fast_policy(email.policy.SMTP)
    assert fast_policy(email.policy.SMTP).linesep == "\r\n"
    assert fast_policy(email.policy.compat32) is email.policy.compat32
