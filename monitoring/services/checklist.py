"""The first-run checklist on the dashboard: what an administrator still has to set up for
alerts to reach anyone."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from monitoring.models import Alert, Notification
from monitoring.services.audience import fleet_has_listeners
from spaces.models import Instance

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@dataclass
class Step:
    key: str
    title: str
    done: bool
    hint: str


def email_configured() -> bool:
    """Email leaves this machine (SMTP), rather than landing in files or on the console."""
    return settings.EMAIL_BACKEND == SMTP_BACKEND


def first_run_checklist() -> list[Step]:
    """Four questions, a handful of queries."""
    backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
    return [
        Step(
            "instances",
            "Enlist an Octopus instance",
            Instance.objects.exists(),
            "Instances → Enlist.",
        ),
        Step(
            "email",
            "Email is configured",
            email_configured(),
            f"Alerts are not sent anywhere (the {backend} email backend keeps them on this "
            "machine). Set ODCM_EMAIL_URL, for example smtp+tls://user:password@host:587.",
        ),
        Step(
            "listeners",
            "Someone receives alerts",
            fleet_has_listeners(),
            "No administrator or instance owner with an email address receives alerts. Add an "
            "email address to your account, or turn alerts back on in your alert settings.",
        ),
        Step(
            "test",
            "A test alert was delivered",
            Notification.objects.filter(
                alert__kind=Alert.Kind.TEST, state=Notification.State.SENT
            ).exists(),
            "Open an instance and press “Send a test alert”.",
        ),
    ]
