"""A real SMTP server for the tests (aiosmtpd in a thread) that records what it accepts.

It stands at a true outside boundary, so it may be told to fail or to stall: ``transient`` makes
the next RCPTs answer 451, ``reject`` answers 550 for some addresses, and ``hold_rcpt`` /
``hold_data`` stall the Nth RCPT or the Nth accepted message until released, so a test can kill
a worker at a known point of a delivery.
"""
from __future__ import annotations

import asyncio
import email
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    message_id: str
    to: tuple[str, ...]
    subject: str
    language: str
    body: str


@dataclass
class Hold:
    """Stall the ``at``-th event until ``release`` is set; ``reached`` says it has come."""

    at: int
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class Recorder:
    def __init__(self):
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.transient = 0
        self.reject: set[str] = set()
        self.rcpt_count = 0
        self.data_count = 0
        self.hold_rcpt: Hold | None = None
        self.hold_data: Hold | None = None

    async def _stall(self, hold: Hold | None, count: int) -> None:
        if hold is not None and count == hold.at:
            hold.reached.set()
            await asyncio.get_running_loop().run_in_executor(None, hold.release.wait, 120)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpt_count += 1
            count = self.rcpt_count
            if address in self.reject:
                return "550 5.1.1 No such mailbox"
            if self.transient > 0:
                self.transient -= 1
                return "451 4.3.0 Try again later"
        await self._stall(self.hold_rcpt, count)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        # Recorded as soon as the final dot arrives, as a mail server queues a message before
        # it answers 250.
        with self.lock:
            self.messages.append(Received(msg["Message-ID"], tuple(envelope.rcpt_tos),
                                          str(msg["Subject"]), str(msg["Content-Language"]),
                                          msg.get_content()))
            self.data_count += 1
            count = self.data_count
        await self._stall(self.hold_data, count)
        return "250 OK"

    def ids(self) -> list[str]:
        with self.lock:
            return [m.message_id for m in self.messages]


@contextmanager
def smtp_server():
    """(recorder, smtp_url) of a server listening on a free local port."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, f"smtp://127.0.0.1:{port}"
    finally:
        for hold in (recorder.hold_rcpt, recorder.hold_data):
            if hold is not None:
                hold.release.set()
        controller.stop()
