"""Transports against a real SMTP server on 127.0.0.1 (aiosmtpd), a maildir and memory."""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from campaign.mail.compose import OutgoingMail, build_message
from campaign.mail.transport import (
    MaildirTransport,
    MemoryTransport,
    SendResult,
    SMTPTransport,
    classify_reply,
    scrub,
    transport_from_url,
)
from tests.smtp_sink import DROP, SmtpSink, free_port, self_signed_cert

TAJIK = "ғ ӣ қ ӯ ҳ ҷ"
RUSSIAN = "Свобода слова — не экстремизм."
ADDRESS = re.compile(r"[^\s<>]+@[^\s<>]+")


def message(to_addr: str = "farhod@example.net", **changes: str) -> bytes:
    fields = {
        "from_name": f"Ҷамъият {TAJIK}",
        "subject": f"Огоҳӣ: {TAJIK} / {RUSSIAN}",
        "text": f"Салом!\n{RUSSIAN}\n{TAJIK}\n",
        "html": f"<p>Салом!</p><p>{RUSSIAN}</p><p>{TAJIK}</p>\n",
        **changes,
    }
    return build_message(
        OutgoingMail(
            from_name=fields["from_name"],
            from_addr="alerts@example.org",
            to_name="Фарҳод",
            to_addr=to_addr,
            subject=fields["subject"],
            text=fields["text"],
            html=fields["html"],
            message_id="<abc123@example.org>",
            list_id="<alerts.example.org>",
            unsubscribe_url="https://example.org/u/t",
            unsubscribe_mailto="mailto:u@example.org",
            date=datetime(2026, 11, 25, tzinfo=UTC),
        )
    )


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def smtp(sink: SmtpSink, **kwargs: float) -> SMTPTransport:
    return SMTPTransport(f"smtp://127.0.0.1:{sink.port}", timeout=kwargs.get("timeout", 10))


# --- classify_reply ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text", "outcome", "enhanced", "suppress"),
    [
        (250, "2.0.0 OK queued as 1234", "sent", "2.0.0", False),
        (250, "OK", "sent", None, False),
        (550, "5.1.1 <x@y.org> unknown user", "failed", "5.1.1", True),
        (550, "5.1.10 null MX", "failed", "5.1.10", True),
        (553, "5.1.3 bad address syntax", "failed", "5.1.3", True),
        (550, "mailbox unavailable", "failed", None, True),
        (551, "user not local", "failed", None, True),
        (553, "mailbox name not allowed", "failed", None, True),
        (552, "5.2.2 mailbox full", "failed", "5.2.2", False),
        (554, "transaction failed", "failed", None, False),
        (550, "5.7.1 rejected by policy", "policy", "5.7.1", False),
        (554, "5.7.26 DMARC", "policy", "5.7.26", False),
        (553, "5.1.8 bad sender domain", "policy", "5.1.8", False),
        (535, "authentication failed", "policy", None, False),
        (451, "4.7.1 try later", "retry", "4.7.1", False),
        (450, "4.2.0 mailbox busy", "retry", "4.2.0", False),
        (452, "too many recipients", "retry", None, False),
        (421, "4.3.2 service shutting down", "paused", "4.3.2", False),
        (421, "closing", "paused", None, False),
        (550, "4.1.1 mismatched class", "failed", None, True),
        (354, "go ahead", "unknown", None, False),
        (-1, "garbage", "unknown", None, False),
    ],
)
def test_classify_reply_table(
    code: int, text: str, outcome: str, enhanced: str | None, suppress: bool
) -> None:
    result = classify_reply(code, text.encode())
    assert (result.outcome, result.enhanced, result.suppress, result.code) == (
        outcome,
        enhanced,
        suppress,
        code,
    )


def test_classified_replies_are_scrubbed_of_addresses_and_truncated() -> None:
    result = classify_reply(550, b"5.1.1 <ann@example.net>: unknown; try bob@x.org\r\nor c@d")
    assert not ADDRESS.search(result.reply.replace("<address>", ""))
    assert result.reply == "5.1.1 <address>: unknown; try <address> or <address>"
    assert len(classify_reply(451, "4.0.0 " + "x" * 2000).reply) == 500
    assert scrub("Привет\x00 a@b") == "Привет <address>"


# --- SMTPTransport URLs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "user", "password", "starttls", "implicit"),
    [
        ("smtp://u%40x:p%3Ass%2F@relay.example:587?starttls=1", "relay.example", 587,
         "u@x", "p:ss/", True, False),
        ("smtps://user:secret@relay.example:465", "relay.example", 465, "user", "secret",
         False, True),
        ("smtps://relay.example", "relay.example", 465, None, "", False, True),
        ("smtp://127.0.0.1:2525", "127.0.0.1", 2525, None, "", False, False),
        ("smtp://relay.example?starttls=true", "relay.example", 587, None, "", True, False),
        ("smtp://relay.example", "relay.example", 25, None, "", False, False),
        ("smtp://u:p@localhost:2525", "localhost", 2525, "u", "p", False, False),
    ],
)  # fmt: skip
def test_smtp_url_parsing(
    url: str,
    host: str,
    port: int,
    user: str | None,
    password: str,
    starttls: bool,
    implicit: bool,
) -> None:
    transport = SMTPTransport(url)
    assert (transport.host, transport.port, transport.username) == (host, port, user)
    assert transport._password == password
    assert (transport.starttls, transport.implicit_tls) == (starttls, implicit)
    assert "secret" not in repr(transport) and "p%3A" not in repr(transport)


@pytest.mark.parametrize(
    "url",
    [
        "http://relay.example",
        "smtp://",
        "smtp://relay.example?tls=1",
        "smtp://relay.example?starttls=maybe",
        "smtps://relay.example?starttls=1",
        "smtp://relay.example/path",
        "smtp://user:pw@relay.example:25",  # credentials in clear text to another host
    ],
)
def test_smtp_url_mistakes_are_refused_at_configuration_time(url: str) -> None:
    with pytest.raises(ValueError):
        SMTPTransport(url)


def test_transport_from_url_picks_smtp_maildir_or_memory(tmp_path: Path) -> None:
    assert isinstance(transport_from_url("smtp://127.0.0.1:2525", "x"), SMTPTransport)
    assert isinstance(transport_from_url(None, str(tmp_path)), MaildirTransport)
    assert isinstance(transport_from_url("", str(tmp_path)), MaildirTransport)
    assert isinstance(transport_from_url("memory://", str(tmp_path)), MemoryTransport)


# --- real SMTP --------------------------------------------------------------------------------


def test_tajik_and_russian_message_survives_a_real_smtp_session(sink: SmtpSink) -> None:
    with smtp(sink).connect() as connection:
        result = connection.send("bounces@example.org", "farhod@example.net", message())
    assert (result.outcome, result.code, result.enhanced) == ("sent", 250, "2.0.0")
    ((mail_from, rcpt_tos, data),) = sink.messages
    assert (mail_from, rcpt_tos) == ("bounces@example.org", ["farhod@example.net"])
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["Subject"] == f"Огоҳӣ: {TAJIK} / {RUSSIAN}"
    assert msg["From"].addresses[0].display_name == f"Ҷамъият {TAJIK}"
    for part in msg.walk():
        assert part.defects == []
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == f"Салом!\n{RUSSIAN}\n{TAJIK}\n"
    assert html.get_content().replace("\r\n", "\n") == (
        f"<p>Салом!</p><p>{RUSSIAN}</p><p>{TAJIK}</p>\n"
    )
    assert sink.helo_names == ["localhost"]


def test_injection_attempts_reach_only_the_envelope_recipient(sink: SmtpSink) -> None:
    trick = "x\r\nBcc: victim@example.net\u2028Cc: c@example.net"
    data = message(subject=trick, from_name=trick)
    with smtp(sink).connect() as connection:
        assert connection.send("b@example.org", "farhod@example.net", data).outcome == "sent"
        bad = connection.send("b@example.org", "a@example.net>\r\nRCPT TO:<v@example.net", data)
    assert (bad.outcome, bad.suppress) == ("failed", True)
    ((_, rcpt_tos, received),) = sink.messages
    assert rcpt_tos == ["farhod@example.net"]
    msg = email.message_from_bytes(received, policy=email.policy.strict)
    assert "Bcc" not in msg and "Cc" not in msg
    assert len(received.split(b"\r\n\r\n", 1)[0].split(b"\r\nBcc")) == 1


def test_many_messages_share_one_smtp_session(sink: SmtpSink) -> None:
    with smtp(sink).connect() as connection:
        results = [
            connection.send("b@example.org", f"r{i}@example.net", message(f"r{i}@example.net"))
            for i in range(40)
        ]
    assert {r.outcome for r in results} == {"sent"}
    assert len(sink.messages) == 40
    assert sink.sessions == 1


def test_unknown_user_fails_with_suppression_and_the_session_goes_on(sink: SmtpSink) -> None:
    sink.rcpt_reply = lambda a: f"550 5.1.1 <{a}> unknown user" if a.startswith("gone") else None
    with smtp(sink).connect() as connection:
        gone = connection.send("b@example.org", "gone@example.net", message())
        fine = connection.send("b@example.org", "here@example.net", message())
    assert (gone.outcome, gone.code, gone.enhanced, gone.suppress) == ("failed", 550, "5.1.1", True)
    assert "gone@" not in gone.reply and "<address>" in gone.reply
    assert fine.outcome == "sent"
    assert [m[1] for m in sink.messages] == [["here@example.net"]]
    assert sink.sessions == 1


def test_temporary_rejection_asks_for_a_retry(sink: SmtpSink) -> None:
    sink.rcpt_reply = lambda a: "451 4.7.1 try later"
    with smtp(sink).connect() as connection:
        result = connection.send("b@example.org", "x@example.net", message())
    assert (result.outcome, result.code, result.enhanced) == ("retry", 451, "4.7.1")


def test_policy_rejection_after_data_is_policy(sink: SmtpSink) -> None:
    sink.data_reply = lambda rcpts: "554 5.7.1 message refused as spam"
    with smtp(sink).connect() as connection:
        result = connection.send("b@example.org", "x@example.net", message())
    assert (result.outcome, result.code, result.enhanced) == ("policy", 554, "5.7.1")
    assert sink.messages == []


def test_421_at_connect_pauses_every_send(sink: SmtpSink) -> None:
    sink.refuse_connect = "421 4.3.2 too busy, come back later"
    with smtp(sink).connect() as connection:
        results = [connection.send("b@example.org", "x@example.net", message()) for _ in range(3)]
    assert {(r.outcome, r.code, r.enhanced) for r in results} == {("paused", 421, "4.3.2")}


def test_closed_port_pauses_without_raising() -> None:
    transport = SMTPTransport(f"smtp://127.0.0.1:{free_port()}", timeout=5)
    with transport.connect() as connection:
        results = [connection.send("b@example.org", "x@example.net", message()) for _ in range(2)]
    assert {(r.outcome, r.code) for r in results} == {("paused", 0)}
    assert "ConnectionRefusedError" in results[0].reply


def test_silent_server_times_out_and_pauses() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        transport = SMTPTransport(f"smtp://127.0.0.1:{port}", timeout=0.5)
        started = time.monotonic()
        with transport.connect() as connection:
            result = connection.send("b@example.org", "x@example.net", message())
        assert time.monotonic() - started < 5
    assert result.outcome == "paused"
    assert "Timeout" in result.reply or "timed out" in result.reply


def test_421_mid_session_pauses_then_reconnects_once(sink: SmtpSink) -> None:
    sink.rcpt_reply = lambda a: "421 4.7.0 slow down" if a.startswith("first") else None
    with smtp(sink).connect() as connection:
        first = connection.send("b@example.org", "first@example.net", message())
        second = connection.send("b@example.org", "second@example.net", message())
    assert (first.outcome, first.code) == ("paused", 421)
    assert second.outcome == "sent"
    assert sink.sessions == 2


def test_connection_lost_during_data_is_unknown_and_the_next_message_reconnects(
    sink: SmtpSink,
) -> None:
    sink.data_reply = lambda rcpts: DROP if rcpts[0].startswith("drop") else None
    with smtp(sink).connect() as connection:
        lost = connection.send("b@example.org", "drop1@example.net", message())
        after = connection.send("b@example.org", "ok@example.net", message())
        lost_again = connection.send("b@example.org", "drop2@example.net", message())
        no_more = connection.send("b@example.org", "ok2@example.net", message())
    assert (lost.outcome, after.outcome, lost_again.outcome) == ("unknown", "sent", "unknown")
    assert no_more.outcome == "paused"  # the one reconnect is spent
    assert [m[1] for m in sink.messages] == [["ok@example.net"]]
    assert sink.sessions == 2


def test_login_with_percent_encoded_credentials(tmp_path: Path) -> None:
    with SmtpSink(auth=("user@example.org", "p:ss/w@rd")) as server:
        url = f"smtp://user%40example.org:p%3Ass%2Fw%40rd@127.0.0.1:{server.port}"
        with SMTPTransport(url, timeout=10).connect() as connection:
            result = connection.send("b@example.org", "x@example.net", message())
        assert result.outcome == "sent"
        assert server.logins == ["user@example.org"]
        wrong = f"smtp://user%40example.org:nope@127.0.0.1:{server.port}"
        with SMTPTransport(wrong, timeout=10).connect() as connection:
            refused = connection.send("b@example.org", "x@example.net", message())
        assert (refused.outcome, refused.code) == ("paused", 535)
        assert len(server.messages) == 1


def test_starttls_and_implicit_tls_with_a_certificate_made_for_the_test(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    with SmtpSink(tls=(cert, key)) as server:
        url = f"smtp://127.0.0.1:{server.port}?starttls=1"
        with SMTPTransport(url, timeout=10, ssl_context=trust).connect() as connection:
            assert connection.send("b@example.org", "x@example.net", message()).outcome == "sent"
        untrusted = SMTPTransport(url, timeout=10)  # the system store does not know the cert
        with untrusted.connect() as connection:
            assert connection.send("b@example.org", "x@example.net", message()).outcome == (
                "paused"
            )
        assert len(server.messages) == 1
    with SmtpSink(tls=(cert, key), implicit_tls=True) as server:
        url = f"smtps://127.0.0.1:{server.port}"
        with SMTPTransport(url, timeout=10, ssl_context=trust).connect() as connection:
            assert connection.send("b@example.org", "x@example.net", message()).outcome == "sent"
        assert len(server.messages) == 1


def test_starttls_is_never_downgraded_when_the_server_does_not_offer_it(sink: SmtpSink) -> None:
    transport = SMTPTransport(f"smtp://127.0.0.1:{sink.port}?starttls=1", timeout=10)
    with transport.connect() as connection:
        result = connection.send("b@example.org", "x@example.net", message())
    assert result.outcome == "paused"
    assert sink.messages == []


# --- maildir and memory -----------------------------------------------------------------------


def test_maildir_stores_each_message_unchanged_from_many_threads(tmp_path: Path) -> None:
    box_path = tmp_path / "instance" / "maildir"
    transport = MaildirTransport(box_path)
    data = message()

    def work() -> None:
        with transport.connect() as connection:
            for _ in range(25):
                assert connection.send("b@example.org", "x@example.net", data).code == 250

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    box = mailbox.Maildir(box_path, factory=None, create=False)
    assert len(box) == 200
    stored = next(iter(box.itervalues())).as_bytes()
    assert b"farhod@example.net" in stored  # the To header, nothing added
    assert b"X-Campaign-Envelope" not in stored
    assert box_path.stat().st_mode & 0o077 == 0


def test_memory_transport_records_and_follows_its_script() -> None:
    def script(to_addr: str) -> SendResult | None:
        return classify_reply(550, "5.1.1 unknown") if to_addr.startswith("gone") else None

    transport = MemoryTransport(script=script)
    with transport.connect() as connection:
        assert connection.send("b@example.org", "a@example.net", b"data").outcome == "sent"
        gone = connection.send("b@example.org", "gone@example.net", b"data")
    assert (gone.outcome, gone.suppress) == ("failed", True)
    assert transport.outbox == [("b@example.org", "a@example.net", b"data")]


def test_a_relay_that_goes_silent_after_the_data_gives_an_unknown_outcome(
    sink: SmtpSink,
) -> None:
    """No reply to the final dot within the timeout: the message may have been queued, so it
    is neither "sent" nor "failed" (the alert re-sends it once, a letter goes to review)."""
    sink.data_reply = lambda rcpts: time.sleep(2) if rcpts[0].startswith("slow") else None
    with smtp(sink, timeout=0.5).connect() as connection:
        silent = connection.send("b@example.org", "slow@example.net", message())
    assert silent.outcome == "unknown"  # after 2 s the sink would have said 250: "sent"
