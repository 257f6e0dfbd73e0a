"""Fixtures for monitoring tests: instances enlisted from octosim, and a real SMTP server."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from octosim.testing import SimInstance
from odcm.crypto import seal
from spaces.models import Instance, Space
from tests.fixtures.processes import free_port
from tests.monitoring.receiver import receiver  # noqa: F401 - a fixture


def enlist_sim(sim: SimInstance, *, owners: list[Any] = (), region: str = "emea") -> Instance:  # type: ignore[assignment]
    """Register a simulated instance and its spaces the way the registry would."""
    instance = Instance(
        name=sim.name, slug=sim.slug, base_url=sim.url, region=region,
        installation_id=sim.installation_id,
    )  # fmt: skip
    seal(instance, "api_key", sim.api_key)
    instance.save()
    instance.owners.set(owners)
    for octopus_id, space in sim.truth()["spaces"].items():
        Space.objects.create(
            instance=instance,
            octopus_id=octopus_id,
            name=space["name"],
            slug=f"{sim.slug}-{octopus_id.lower()}",
            is_default=space["is_default"],
        )
    return instance


@dataclass
class MailSink:
    """Messages accepted by the test SMTP server, and knobs to misbehave."""

    messages: list[EmailMessage] = field(default_factory=list)
    stall: threading.Event = field(default_factory=threading.Event)
    stalled_sessions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.stall.is_set():
            with self.lock:
                self.stalled_sessions += 1
            while self.stall.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 try again later"  # never accepted: not delivered
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def by_recipient(self) -> dict[str, list[EmailMessage]]:
        out: dict[str, list[EmailMessage]] = {}
        with self.lock:
            for message in self.messages:
                out.setdefault(str(message["To"]), []).append(message)
        return out


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.sink = MailSink()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            with contextlib.suppress(Exception):
                self.controller.stop()
            self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.sink.stall.clear()
    server.stop()


@pytest.fixture
def enlist() -> Callable[..., Instance]:
    return enlist_sim
