"""Handing messages to a relay, a maildir or memory. Nothing here raises on a server's answer:
every outcome becomes a :class:`SendResult`.

One :class:`Connection` serves a whole batch (one SMTP session). Outcomes:

- ``sent``: 2xx after DATA.
- ``retry``: 4.x.x for this recipient; try again later.
- ``failed``: 5.x.x, permanent; ``suppress`` for 5.1.x problems with the recipient's address.
- ``policy``: 5.7.x (and 5.1.7/5.1.8, a refused sender): the relay refuses us, not the address.
- ``paused``: 421, or the relay could not be reached: the relay, not the row, is the problem.
- ``unknown``: the connection broke after DATA began; the message may have been delivered.
"""

from __future__ import annotations

import contextlib
import ipaddress
import mailbox
import os
import re
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Literal, Protocol, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from campaign.mail.compose import ascii_address

__all__ = [
    "Connection", "MaildirTransport", "MemoryTransport", "Outcome", "SMTPConnection",
    "SMTPTransport", "SendResult", "Transport", "classify_reply", "scrub", "transport_from_url",
]  # fmt: skip

Outcome = Literal["sent", "retry", "failed", "policy", "paused", "unknown"]

_ENHANCED: Final = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\S)")
_ADDRESS: Final = re.compile(r"<?[^\s<>@]+@[^\s<>]+>?")
_CONTROLS: Final = re.compile(r" *(?:[\x00-\x1f\x7f-\x9f\u2028\u2029] *)+")
_MAX_REPLY: Final = 500
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class SendResult:
    """What happened to one message. ``reply`` never holds an email address."""

    outcome: Outcome
    code: int
    enhanced: str | None
    reply: str
    suppress: bool = False


def scrub(text: str) -> str:
    """Addresses replaced by ``<address>``, controls by spaces, at most 500 characters."""
    text = _CONTROLS.sub(" ", _ADDRESS.sub("<address>", text)).strip()
    return text[:_MAX_REPLY]


def classify_reply(code: int, message: bytes | str) -> SendResult:
    """Turn an SMTP reply into a :class:`SendResult`, using the RFC 3463 enhanced status code
    at the start of the text when it agrees with the basic code's class."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    reply = scrub(text)
    match = _ENHANCED.match(text)
    enhanced = None
    if match and str(code).startswith(match.group(1)):
        enhanced = ".".join(str(int(g)) for g in match.groups())
    subject, detail = (int(match.group(2)), int(match.group(3))) if enhanced and match else (-1, -1)

    def result(outcome: Outcome, suppress: bool = False) -> SendResult:
        return SendResult(outcome, code, enhanced, reply, suppress)

    if 200 <= code < 300:
        return result("sent")
    if code == 421:
        return result("paused")
    if 400 <= code < 500:
        return result("retry")
    if 500 <= code < 600:
        if subject == 7 or (subject == 1 and detail in (7, 8)) or code in (530, 535):
            return result("policy")
        if subject == 1 or (enhanced is None and code in (550, 551, 553)):
            return result("failed", suppress=True)
        return result("failed")
    return result("unknown")


def _paused(reason: str, code: int = 0, message: bytes | str = b"") -> SendResult:
    """The relay is unusable: a connection-level reply keeps its code, never a row verdict."""
    base = classify_reply(code, message) if code else None
    text = base.reply if base and base.reply else scrub(reason)
    return SendResult("paused", code, base.enhanced if base else None, text)


def _envelope(address: str) -> str:
    return "" if address == "" else ascii_address(address)


class Connection(Protocol):
    """One session with the relay, used for many messages."""

    def send(self, from_addr: str, to_addr: str, data: bytes) -> SendResult: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Transport(Protocol):
    """Something that opens connections. Implementations are safe to share across threads."""

    def connect(self) -> Connection: ...


class _ConnectionBase:
    def send(self, from_addr: str, to_addr: str, data: bytes) -> SendResult:
        raise NotImplementedError

    def close(self) -> None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SMTPTransport:
    """``smtp://[user:pass@]host[:port][?starttls=1]`` or ``smtps://[user:pass@]host[:port]``.

    User and password are percent-decoded. Credentials are refused over a cleartext
    connection to anything but the loopback interface. ``ssl_context`` defaults to the
    system's verifying context.
    """

    def __init__(
        self, url: str, timeout: float = 30, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://host:port or smtps://host:port")
        if parts.path not in ("", "/") or parts.fragment:
            raise ValueError("SMTP_URL takes no path or fragment")
        starttls = False
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key != "starttls" or value.lower() not in _TRUE | _FALSE:
                raise ValueError(f"unknown SMTP_URL option {key!r}")
            starttls = value.lower() in _TRUE
        self.implicit_tls = scheme == "smtps"
        if self.implicit_tls and starttls:
            raise ValueError("smtps:// is already TLS; starttls=1 is for smtp://")
        self.starttls = starttls
        self.host = parts.hostname
        self.port = parts.port or (465 if self.implicit_tls else 587 if starttls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else ""
        if self.username and not (self.implicit_tls or starttls or _is_loopback(self.host)):
            raise ValueError("SMTP credentials need smtps:// or ?starttls=1 (or a loopback host)")
        self.timeout = timeout
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        scheme = "smtps" if self.implicit_tls else "smtp"
        tls = "?starttls=1" if self.starttls else ""
        return f"SMTPTransport({scheme}://{user}{self.host}:{self.port}{tls})"

    def context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def open(self) -> smtplib.SMTP:
        """A logged-in session; raises OSError/SMTPException (the connection turns those
        into "paused" results)."""
        smtp: smtplib.SMTP
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname="localhost",
                timeout=self.timeout,
                context=self.context(),
            )
        else:
            smtp = smtplib.SMTP(
                self.host, self.port, local_hostname="localhost", timeout=self.timeout
            )
        try:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=self.context())  # raises when not offered: no downgrade
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self._password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def connect(self) -> SMTPConnection:
        return SMTPConnection(self)


class SMTPConnection(_ConnectionBase):
    """One SMTP session for a batch, opened at the first send. After the session breaks it
    reconnects once; if that fails too, every further send is "paused"."""

    def __init__(self, transport: SMTPTransport, reconnects: int = 1) -> None:
        self._transport = transport
        self._smtp: smtplib.SMTP | None = None
        self._opened = False
        self._reconnects = reconnects
        self._blocked: SendResult | None = None

    def _session(self) -> smtplib.SMTP | SendResult:
        if self._smtp is not None:
            return self._smtp
        if self._blocked is not None:
            return self._blocked
        if self._opened:
            if self._reconnects <= 0:
                self._blocked = _paused("the connection to the relay was lost")
                return self._blocked
            self._reconnects -= 1
        self._opened = True
        try:
            self._smtp = self._transport.open()
        except smtplib.SMTPResponseException as exc:
            self._blocked = _paused("relay refused", exc.smtp_code, exc.smtp_error)
        except Exception as exc:  # refused, timeout, TLS, no AUTH: the relay is unusable
            self._blocked = _paused(f"cannot reach relay: {exc.__class__.__name__}: {exc}")
        return self._smtp or self._blocked or _paused("no session")

    def _drop(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(Exception):  # a broken socket needs no goodbye
                self._smtp.close()
            self._smtp = None

    def _refused(self, smtp: smtplib.SMTP, code: int, reply: bytes | str) -> SendResult:
        result = classify_reply(code, reply)
        if code == 421 or code < 0:
            self._drop()  # the server is closing the session
            return SendResult("paused", code, result.enhanced, result.reply)
        try:
            smtp.rset()
        except Exception:
            self._drop()
        return result

    def send(self, from_addr: str, to_addr: str, data: bytes) -> SendResult:
        try:
            sender = _envelope(from_addr)
        except ValueError:
            return SendResult("paused", 0, None, "invalid envelope sender (configuration)")
        try:
            recipient = ascii_address(to_addr)
        except ValueError:
            return SendResult("failed", 0, None, "invalid recipient address", suppress=True)
        session = self._session()
        if isinstance(session, SendResult):
            return session
        smtp = session
        data_started = False
        try:
            options = [f"SIZE={len(data)}"] if smtp.has_extn("size") else []
            code, reply = smtp.mail(sender, options)
            if code != 250:
                return self._refused(smtp, code, reply)
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                return self._refused(smtp, code, reply)
            data_started = True
            try:
                code, reply = smtp.data(data)
            except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing was sent
                return self._refused(smtp, exc.smtp_code, exc.smtp_error)
            if 200 <= code < 300:
                return classify_reply(code, reply)
            if code < 0:  # no readable reply after the data: it may have been delivered
                self._drop()
                return SendResult("unknown", code, None, scrub(str(reply)))
            return self._refused(smtp, code, reply)
        except Exception as exc:  # disconnect, timeout, reset: the session is gone
            self._drop()
            reason = f"connection lost: {exc.__class__.__name__}"
            if data_started:
                return SendResult("unknown", 0, None, scrub(reason))
            return _paused(reason)

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(Exception):  # closing anyway below
                self._smtp.quit()
            self._drop()


class MaildirTransport:
    """Writes each message into a maildir (development and the organisers' outbox view)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._box: mailbox.Maildir | None = None

    def deliver(self, data: bytes) -> SendResult:
        try:
            with self._lock:
                if self._box is None:  # private: it holds addresses and letters
                    os.makedirs(self.path, mode=0o700, exist_ok=True)
                    for sub in ("tmp", "new", "cur"):
                        os.makedirs(os.path.join(self.path, sub), mode=0o700, exist_ok=True)
                    self._box = mailbox.Maildir(self.path, factory=None, create=False)
                self._box.add(data)
        except (OSError, mailbox.Error) as exc:
            return SendResult("paused", 0, None, scrub(f"maildir: {exc.__class__.__name__}"))
        return SendResult("sent", 250, None, "stored in maildir")

    def connect(self) -> _MaildirConnection:
        return _MaildirConnection(self)


class _MaildirConnection(_ConnectionBase):
    def __init__(self, transport: MaildirTransport) -> None:
        self._transport = transport

    def send(self, from_addr: str, to_addr: str, data: bytes) -> SendResult:
        return self._transport.deliver(data)


Script = Callable[[str], SendResult | None]


class MemoryTransport:
    """Keeps (from_addr, to_addr, data) in ``outbox``. ``script(to_addr)`` may answer for a
    recipient instead (None means accept)."""

    def __init__(self, script: Script | None = None) -> None:
        self.outbox: list[tuple[str, str, bytes]] = []
        self.script = script
        self.connections = 0
        self._lock = threading.Lock()

    def deliver(self, from_addr: str, to_addr: str, data: bytes) -> SendResult:
        scripted = self.script(to_addr) if self.script is not None else None
        if scripted is not None and scripted.outcome != "sent":
            return scripted
        with self._lock:
            self.outbox.append((from_addr, to_addr, data))
        return scripted or SendResult("sent", 250, None, "accepted")

    def connect(self) -> _MemoryConnection:
        with self._lock:
            self.connections += 1
        return _MemoryConnection(self)


class _MemoryConnection(_ConnectionBase):
    def __init__(self, transport: MemoryTransport) -> None:
        self._transport = transport

    def send(self, from_addr: str, to_addr: str, data: bytes) -> SendResult:
        return self._transport.deliver(from_addr, to_addr, data)


def transport_from_url(smtp_url: str | None, maildir: str) -> Transport:
    """SMTP when a URL is set, ``memory://`` for tests, otherwise the maildir."""
    url = (smtp_url or "").strip()
    if not url:
        return MaildirTransport(maildir)
    if url.lower().startswith("memory:"):
        return MemoryTransport()
    return SMTPTransport(url)
