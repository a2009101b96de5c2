"""Sending one e-mail in two halves, so that a crash can neither lose it nor send it twice.

``prepare`` carries the message to the server up to, but not including, the final ``.`` of the
DATA command; the caller then commits "sent" to PostgreSQL, and only then ``finish`` sends the
dot. A worker killed before the commit leaves an unfinished DATA that the server throws away,
and the delivery is retried; one killed after it has already sent the message. The one window
left, between the commit returning and three bytes being written, is microseconds wide; the
usual order (send, then commit) leaves the whole of the server's processing time for a
duplicate. A reply other than 250 to the dot is reported, and the caller marks the delivery
pending again.

``SMTP_URL``: ``smtp://[user:password@]host:port`` (``smtps://`` for TLS from the start);
``file:///path/to/dir`` writes ``.eml`` files; unset, messages are logged (``make run``).
"""
from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from email import policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

log = logging.getLogger("qorgau.mail")
TIMEOUT = 30


class MailError(Exception):
    """A message could not be sent; ``permanent`` when retrying cannot help (5xx)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def _check(code: int, reply: bytes, expected: tuple[int, ...], step: str) -> None:
    if code not in expected:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        raise MailError(f"{step}: {code} {text}"[:500], permanent=500 <= code < 600)


def wire_bytes(msg: EmailMessage) -> bytes:
    """The message as DATA carries it: CRLF line ends, leading dots doubled, ending in CRLF."""
    data = msg.as_bytes(policy=policy.SMTP)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


class SmtpSession:
    """One SMTP connection, reused for the messages of one task."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        host, port = parts.hostname or "localhost", parts.port
        try:
            if parts.scheme == "smtps":
                self.smtp = smtplib.SMTP_SSL(host, port or 465, timeout=TIMEOUT,
                                             context=ssl.create_default_context())
            else:
                self.smtp = smtplib.SMTP(host, port or 25, timeout=TIMEOUT)
            # The final dot goes out as a write of its own, after the commit; without NODELAY,
            # Nagle's algorithm would hold it until the server acknowledged the body.
            self.smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.smtp.ehlo_or_helo_if_needed()
            if parts.username:
                self.smtp.login(unquote(parts.username), unquote(parts.password or ""))
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot reach the mail server: {type(exc).__name__}: {exc}") from exc

    def prepare(self, msg: EmailMessage, sender: str, recipient: str) -> "PendingMail":
        """Send everything but the final dot; raise MailError when the server refuses."""
        try:
            _check(*self.smtp.mail(sender), (250,), "MAIL FROM")
            code, reply = self.smtp.rcpt(recipient)
            if code not in (250, 251):
                self.smtp.rset()
                _check(code, reply, (250, 251), "RCPT TO")
            _check(*self.smtp.docmd("DATA"), (354,), "DATA")
            self.smtp.send(wire_bytes(msg))
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise MailError(f"sending failed: {type(exc).__name__}: {exc}") from exc
        return PendingMail(self)

    def close(self) -> None:
        """Drop the connection; an unfinished DATA is discarded by the server."""
        try:
            self.smtp.close()
        except Exception:  # closing a broken socket is best effort
            pass


class PendingMail:
    """A message waiting for its final dot."""

    def __init__(self, session: SmtpSession):
        self.session = session

    def finish(self) -> None:
        try:
            self.session.smtp.send(b".\r\n")
            code, reply = self.session.smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self.session.close()
            raise MailError(f"the server did not confirm: {type(exc).__name__}") from exc
        _check(code, reply, (250,), "end of DATA")

    def abort(self) -> None:
        self.session.close()


class LocalSession:
    """Writes messages to a folder as ``.eml`` files, or to the log when there is no folder."""

    def __init__(self, folder: Path | None):
        self.folder = folder

    def prepare(self, msg: EmailMessage, sender: str, recipient: str) -> "LocalPending":
        return LocalPending(self.folder, msg, recipient)

    def close(self) -> None:
        pass


class LocalPending:
    def __init__(self, folder: Path | None, msg: EmailMessage, recipient: str):
        self.folder, self.msg, self.recipient = folder, msg, recipient

    def finish(self) -> None:
        if self.folder is None:
            log.info("e-mail (no SMTP_URL set) to %s: %s", self.recipient, self.msg["Subject"],
                     extra={"message_id": self.msg["Message-ID"]})
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", self.msg["Message-ID"].strip("<>")) + ".eml"
        tmp = self.folder / (name + ".tmp")
        tmp.write_bytes(self.msg.as_bytes(policy=policy.SMTP))
        tmp.replace(self.folder / name)

    def abort(self) -> None:
        pass


def open_session(smtp_url: str | None):
    """A session for the configured transport (SMTP, a folder, or the log)."""
    if not smtp_url:
        return LocalSession(None)
    if smtp_url.startswith("file://"):
        return LocalSession(Path(unquote(urlsplit(smtp_url).path)))
    if smtp_url.startswith(("smtp://", "smtps://")):
        return SmtpSession(smtp_url)
    raise MailError(f"SMTP_URL must start with smtp://, smtps:// or file:// (got {smtp_url.split(':')[0]}:)",
                    permanent=True)
