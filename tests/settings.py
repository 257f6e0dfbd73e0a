"""Settings for the test suite: real PostgreSQL and Redis, chosen by ODCM_TEST_* variables."""

import os

import dj_database_url

TEST_DATABASE_URL = os.environ.get(
    "ODCM_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/odcm_test"
)
TEST_REDIS_URL = os.environ.get("ODCM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Under pytest-xdist each worker (gw0, gw1, ...) gets its own database (<name>_gwN), Redis
# database (the given one + 1 + N) and var folder. The names are written back to the environment
# once, so the processes a test starts (web servers, Celery workers) share them; a child given
# another database on purpose (a second ODCM) keeps it. tests/conftest.py turns off
# pytest-django's own suffix, which would name the database differently from the children.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER and os.environ.get("ODCM_TEST_WORKER") != _WORKER:
    _n = int(_WORKER.removeprefix("gw"))
    _db_base, _db_name = TEST_DATABASE_URL.rsplit("/", 1)
    TEST_DATABASE_URL = f"{_db_base}/{_db_name}_{_WORKER}"
    _redis_base, _redis_db = TEST_REDIS_URL.rsplit("/", 1)
    TEST_REDIS_URL = f"{_redis_base}/{int(_redis_db or 0) + 1 + _n}"
    os.environ["ODCM_TEST_DATABASE_URL"] = TEST_DATABASE_URL
    os.environ["ODCM_TEST_REDIS_URL"] = TEST_REDIS_URL
    os.environ.setdefault(
        "ODCM_VAR_DIR", os.path.join(os.path.dirname(__file__), "..", "var", f"test-{_WORKER}")
    )
    os.environ["ODCM_TEST_WORKER"] = _WORKER

os.environ["ODCM_DATABASE_URL"] = TEST_DATABASE_URL
os.environ["ODCM_REDIS_URL"] = TEST_REDIS_URL
os.environ.setdefault("ODCM_DEBUG", "false")
os.environ.setdefault("ODCM_SECRET_KEY", "test-secret-key-" + "x1y2z3" * 10)
os.environ.setdefault("ODCM_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("ODCM_ENCRYPTION_KEYS", "dGVzdC1rZXktbmV3ZXN0LTMyLWJ5dGVzLWxvbmctLS0=")
os.environ.setdefault("ODCM_ALLOW_HTTP_INSTANCES", "true")
os.environ.setdefault("ODCM_ALLOWED_PRIVATE_NETWORKS", "127.0.0.0/8")
os.environ.setdefault("ODCM_VAR_DIR", os.path.join(os.path.dirname(__file__), "..", "var", "test"))

from odcm.settings import *  # noqa: E402,F403
from odcm.settings import DATABASES  # noqa: E402

# The URL names the test database itself; pytest-django creates and drops it.
DATABASES["default"]["TEST"] = {"NAME": dj_database_url.parse(TEST_DATABASE_URL)["NAME"]}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Django's PostgreSQL backend, flushed faster after transactional tests (see tests/postgres).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "tests.postgres"
