"""A real SMTP server on 127.0.0.1 for tests: aiosmtpd in a thread, with hooks to answer per
recipient, refuse at connect, drop the connection during DATA, require AUTH, offer STARTTLS
or speak implicit TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

DROP = "drop"  # a data_reply that closes the connection instead of answering


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A P-256 certificate for 127.0.0.1 and localhost, made now (fast: no RSA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        hook = self.sink.rcpt_reply
        reply = hook(address) if hook is not None else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        hook = self.sink.data_reply
        reply = hook(list(envelope.rcpt_tos)) if hook is not None else None
        if reply == DROP:
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
            return "250 never seen"
        if reply:
            return reply
        data = envelope.original_content or b""
        with self.sink.lock:
            self.sink.messages.append((envelope.mail_from or "", list(envelope.rcpt_tos), data))
        return "250 2.0.0 OK queued"


class _SinkSMTP(SMTP):
    sink: SmtpSink

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        with self.sink.lock:
            self.sink._live.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        with self.sink.lock:
            self.sink._live.discard(self.transport)  # type: ignore[arg-type]
        super().connection_lost(exc)

    async def _handle_client(self) -> None:
        if self.sink.refuse_connect:
            await self.push(self.sink.refuse_connect)
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    def _count(self) -> None:
        with self.sink.lock:
            self.sink._sessions.add(id(self))

    async def smtp_HELO(self, hostname: str) -> None:
        self._count()
        self.sink.helo_names.append(hostname)
        await super().smtp_HELO(hostname)

    async def smtp_EHLO(self, hostname: str) -> None:
        self._count()
        self.sink.helo_names.append(hostname)
        await super().smtp_EHLO(hostname)


class _SinkController(Controller):
    def __init__(self, sink: SmtpSink, **kwargs: Any) -> None:
        self.sink = sink
        super().__init__(_Handler(sink), hostname="127.0.0.1", port=sink.port, **kwargs)

    def factory(self) -> SMTP:
        server = _SinkSMTP(self.handler, **self.SMTP_kwargs)
        server.sink = self.sink
        return server


class SmtpSink:
    """``messages`` holds (mail_from, rcpt_tos, data) for every accepted message.

    ``rcpt_reply(address)`` may return a reply such as ``"550 5.1.1 <x@y> unknown user"``;
    ``data_reply(rcpt_tos)`` may return a reply for the end of DATA, or :data:`DROP`;
    ``refuse_connect`` answers the greeting with e.g. ``"421 4.3.2 busy"`` and hangs up.
    ``auth`` offers AUTH (without TLS) and accepts only that login (``logins`` records it);
    ``tls`` (cert, key) offers STARTTLS, or implicit TLS with ``implicit_tls=True``.
    """

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
        implicit_tls: bool = False,
    ) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.helo_names: list[str] = []
        self.rcpt_reply: Callable[[str], str | None] | None = None
        self.data_reply: Callable[[list[str]], str | None] | None = None
        self.refuse_connect: str | None = None
        self.logins: list[str] = []
        self.lock = threading.Lock()
        self._sessions: set[int] = set()
        self._live: set[asyncio.BaseTransport] = set()  # open client connections
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": False, "data_size_limit": 10_000_000}
        if auth is not None:
            kwargs.update(authenticator=self._authenticator(auth), auth_require_tls=False)
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            if implicit_tls:
                kwargs["ssl_context"] = context
            else:
                kwargs.update(tls_context=context, require_starttls=True)
        self._controller = _SinkController(self, **kwargs)

    def _authenticator(self, auth: tuple[str, str]) -> Callable[..., AuthResult]:
        def check(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == auth
            )
            if ok:
                self.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)

        return check

    @property
    def sessions(self) -> int:
        """SMTP sessions that greeted us (the controller's own start-up probe does not)."""
        with self.lock:
            return len(self._sessions)

    def start(self) -> Self:
        self._controller.start()
        return self

    def stop(self) -> None:
        """Hang up on clients still connected (a job that outlived its test), then stop: a
        connection left open would be collected later as an unclosed transport."""
        async def hang_up() -> None:
            with self.lock:
                live = list(self._live)
            for transport in live:
                transport.abort()
            await asyncio.sleep(0.05)  # let connection_lost run

        loop = self._controller.loop
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(hang_up(), loop).result(5)
        self._controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
