"""Octopus clients built from ODCM's settings. Apps get their clients here, nowhere else.
An ``instance`` here is an enlisted ``spaces.Instance`` (odcm imports no app).

The URL policy (``ODCM_ALLOW_HTTP_INSTANCES``, ``ODCM_ALLOWED_PRIVATE_NETWORKS``) and the
timeouts (``ODCM_OCTOPUS_CONNECT_TIMEOUT``, ``ODCM_OCTOPUS_READ_TIMEOUT``) apply to every call.
"""

from __future__ import annotations

from typing import Any

import httpx
from django.conf import settings

from octopus import AsyncOctopusClient, OctopusClient, Secret, Timeouts, URLPolicy


def url_policy() -> URLPolicy:
    return URLPolicy.from_settings(
        settings.ODCM_ALLOW_HTTP_INSTANCES, settings.ODCM_ALLOWED_PRIVATE_NETWORKS
    )


def timeouts() -> Timeouts:
    return Timeouts(
        connect=settings.ODCM_OCTOPUS_CONNECT_TIMEOUT, read=settings.ODCM_OCTOPUS_READ_TIMEOUT
    )


def instance_api_key(instance: Any) -> Secret:
    from odcm.crypto import unseal

    return Secret(unseal(instance, "api_key"))


def client_for_url(base_url: str, api_key: str | Secret, **options: Any) -> OctopusClient:
    """A client for a URL that is not (yet) an enlisted instance, e.g. while enlisting."""
    options.setdefault("timeouts", timeouts())
    return OctopusClient(base_url, api_key, policy=url_policy(), **options)


def client_for(instance: Any, **options: Any) -> OctopusClient:
    """A synchronous client for an enlisted instance (use it as a context manager)."""
    return client_for_url(instance.base_url, instance_api_key(instance), **options)


def async_client_for(
    instance: Any, *, http: httpx.AsyncClient | None = None, **options: Any
) -> AsyncOctopusClient:
    """An async client; pass ``http`` (octopus.make_async_http_client) to share a pool."""
    options.setdefault("timeouts", timeouts())
    return AsyncOctopusClient(
        instance.base_url, instance_api_key(instance), policy=url_policy(), http=http, **options
    )
