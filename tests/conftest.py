"""Shared fixtures: personas, API clients and servers. App-specific ones live in tests/fixtures/."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from identity.models import User

pytest_plugins = ["tests.fixtures.processes"]
if (Path(__file__).parent / "fixtures" / "octosim.py").exists():
    pytest_plugins.append("tests.fixtures.octosim")

PASSWORD = "correct horse battery staple"


def clear_cache() -> None:
    """Empty the cache, and only the cache: ``cache.clear()`` is FLUSHDB, and the cache
    shares its Redis database with the Celery broker, so it also deleted the queue of any
    worker using that database at the time (a benchmark run beside the tests waited for
    work that was gone)."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]  # the backend itself (``django.core.cache.cache`` is a proxy)
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    """Rate-limit counters live in the cache (Redis): no test inherits another's."""
    clear_cache()
    yield


def make_user(username: str, *, admin: bool = False, **extra: object) -> User:
    user = User.objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD, **extra
    )
    if admin:
        user.is_superuser = user.is_staff = True
        user.save(update_fields=["is_superuser", "is_staff"])
    return user


@pytest.fixture
def admin_user(db: None) -> User:
    """An ODCM administrator."""
    return make_user("ada", admin=True)


@pytest.fixture
def space_owner(db: None) -> User:
    """Owns (manages) spaces; permissions arrive with the identity issue."""
    return make_user("owen")


@pytest.fixture
def member(db: None) -> User:
    """A member of a space."""
    return make_user("mia")


@pytest.fixture
def outsider(db: None) -> User:
    """Signed in, but granted nothing."""
    return make_user("oscar")


@pytest.fixture
def login() -> Callable[[User], Client]:
    def _login(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def token_for(db: None) -> Callable[..., str]:
    from identity.services.tokens import create_token

    def _token(user: User, **kwargs: object) -> str:
        return create_token(user, name="test", **kwargs)[1]  # type: ignore[arg-type]

    return _token


@pytest.fixture(scope="session")
def django_db_modify_db_settings_xdist_suffix() -> None:
    """tests/settings.py names each xdist worker's database itself (see there)."""


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", "0")


def _database_order(item: pytest.Item) -> int:
    """pytest-django's order, which is Django's: tests inside a transaction first, then
    transactional ones (their flush also empties what data migrations wrote, such as the
    standard environments), then tests without the database."""
    fixtures = getattr(item, "fixturenames", ())
    marker = item.get_closest_marker("django_db")
    in_marker = bool(
        marker
        and (
            marker.kwargs.get("transaction")
            or marker.kwargs.get("reset_sequences")
            or (marker.args and marker.args[0])
        )
    )
    if in_marker or "transactional_db" in fixtures or "live_server" in fixtures:
        return 1
    return 0 if marker or "db" in fixtures else 2


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests run first within their kind, and browser tests last.

    - Django's order stays: tests inside a transaction, then transactional tests, then tests
      without the database (:func:`_database_order`).
    - Within each, tests marked ``slow`` (ten seconds or more: several processes, a whole
      sweep) are handed out first (one at a time: ``--maxschedchunk=1`` in pyproject.toml),
      so pytest-xdist spreads them over its workers while the short ones fill the gaps; found
      at the end of the list, they left one worker running alone for minutes.
    - Browser tests run last: Playwright's sync API keeps an event loop on the main thread for
      as long as the browser lives, which would break later tests that call asyncio.run().
    """
    items.sort(
        key=lambda item: (
            "/tests/e2e/" in str(item.path),
            _database_order(item),
            not item.get_closest_marker("slow"),
        )
    )
