"""System checks for deployment (run by `manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_site_url(app_configs: Any, **kwargs: Any) -> list[Warning]:
    if not settings.ODCM_SITE_URL.startswith("https://"):
        return [
            Warning(
                "ODCM_SITE_URL is not https: sessions and API tokens would cross the network "
                "in clear text.",
                id="odcm.W001",
            )
        ]
    return []


@register(deploy=True)
def check_email(app_configs: Any, **kwargs: Any) -> list[Warning]:
    if settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
        return [
            Warning(
                "No email server is configured (ODCM_EMAIL_URL): alerts are written to files "
                "under var/mail instead of being sent.",
                id="odcm.W002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_metrics(app_configs: Any, **kwargs: Any) -> list[Error]:
    """/metrics names every instance, its status and version: in production it needs a
    token unless an operator chose, by name, to publish it."""
    if settings.DEBUG or settings.ODCM_METRICS_TOKEN or settings.ODCM_METRICS_PUBLIC:
        return []
    return [
        Error(
            "/metrics is open to anyone: set ODCM_METRICS_TOKEN (scrapers send it as a Bearer "
            "token), or ODCM_METRICS_PUBLIC=true if the network already keeps it private.",
            id="odcm.E001",
        )
    ]
