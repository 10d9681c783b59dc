"""The inbound_smtp listener, started on a free port and spoken to with smtplib, as another
mail server would. Its handler writes from its own thread, so these tests commit
(transactional_db) instead of running inside one test transaction."""

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
from django.db import DatabaseError

from accounts.management.commands.inbound_smtp import inbound_controller
from accounts.models import InboundAddress, InboundEvent
from tests.accounts.fixtures.mail import GERMAN_REPLY, reply

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def listener(transactional_db, settings):
    settings.INBOUND_DOMAIN = "reply.heard.example"
    port = _free_port()
    controller = inbound_controller(host="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
def reply_address(transactional_db):
    from accounts.models import Organisation

    org = Organisation.objects.create(name="Alpha Bikes", slug="alpha")
    row, address = InboundAddress.issue(org=org, purpose="reply_action", target="action-code")
    return row, address


def test_it_stores_a_reply_sent_to_a_reply_address(listener, reply_address):
    row, address = reply_address
    with smtplib.SMTP("127.0.0.1", listener, timeout=10) as smtp:
        refused = smtp.sendmail("jo@example.com", [address], reply(to=address, body=GERMAN_REPLY))
    assert refused == {}
    event = InboundEvent.objects.get()
    assert (event.source, event.kind) == ("smtp", InboundEvent.Kind.REPLY)
    assert event.text == "Vielen Dank, die Bremsen funktionieren jetzt einwandfrei."
    assert event.inbound_address == row and event.address == address.lower()


def test_it_refuses_recipients_outside_the_inbound_domain(listener, reply_address):
    _, address = reply_address
    with smtplib.SMTP("127.0.0.1", listener, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("spammer@example.net")
        code, _ = smtp.rcpt("victim@elsewhere.example")
        assert code == 550
        smtp.rset()
        # One refused recipient doesn't stop the others of the same message.
        refused = smtp.sendmail(
            "jo@example.com",
            ["someone@elsewhere.example", address],
            reply(to=address, body="Thanks!\n"),
        )
    assert set(refused) == {"someone@elsewhere.example"}
    assert InboundEvent.objects.get().address == address.lower()


def test_it_answers_451_when_the_database_cannot_take_the_message(listener, reply_address):
    _, address = reply_address
    with (
        mock.patch(
            "accounts.management.commands.inbound_smtp.inbound_message_record",
            side_effect=DatabaseError("database is down"),
        ),
        smtplib.SMTP("127.0.0.1", listener, timeout=10) as smtp,
        pytest.raises(smtplib.SMTPDataError) as refused,
    ):
        smtp.sendmail("jo@example.com", [address], reply(to=address, body="Hello\n"))
    assert refused.value.smtp_code == 451
    assert not InboundEvent.objects.exists()


def test_the_command_serves_until_sigterm(tmp_path):
    port = _free_port()
    env = {**os.environ, "INBOUND_DOMAIN": "reply.heard.example", "HEARD_VAR_DIR": str(tmp_path)}
    command = subprocess.Popen(
        [sys.executable, "manage.py", "inbound_smtp", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
                    smtp.ehlo()
                    smtp.mail("jo@example.com")
                    assert smtp.rcpt("nobody@elsewhere.example")[0] == 550
                    assert smtp.rcpt("anyone@REPLY.heard.example")[0] == 250
                break
            except OSError:
                assert command.poll() is None, command.stdout.read()
                assert time.monotonic() < deadline, "the listener never answered"
                time.sleep(0.2)
        command.send_signal(signal.SIGTERM)
        assert command.wait(timeout=15) == 0
        assert "reply.heard.example" in command.stdout.read()
    finally:
        if command.poll() is None:
            command.kill()
