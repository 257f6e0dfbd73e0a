import sys

import httpx
import pytest

from tests.fixtures.processes import free_port, wait_for_port


@pytest.mark.django_db
def test_readyz_is_ok_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "broker": "ok"}


def test_healthz_says_only_that_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def readyz_of_a_server_with(start_process, **env: str) -> httpx.Response:
    """GET /readyz from a real gunicorn started with ``env`` (e.g. a dead database)."""
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "odcm.wsgi", "--bind", f"127.0.0.1:{port}"]
    server = start_process([*args, "--workers", "1"], name="web", **env)
    wait_for_port(port, process=server.process)
    return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)


def test_readyz_answers_503_naming_the_database_when_it_is_unreachable(start_process):
    response = readyz_of_a_server_with(
        start_process, ODCM_TEST_DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/x"
    )
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["database"]
    assert body["checks"]["broker"] == "ok"
    assert "password" not in response.text.lower()


def test_readyz_answers_503_naming_the_broker_when_it_is_unreachable(start_process):
    response = readyz_of_a_server_with(
        start_process, ODCM_TEST_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"
    )
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]


@pytest.mark.django_db
def test_metrics_exposes_process_and_request_metrics(client):
    client.get("/accounts/login/")
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert "process_resident_memory_bytes" in text
    assert 'odcm_http_requests_total{method="GET",status="200",view="account_login"}' in text
    assert "odcm_http_request_duration_seconds_bucket" in text


@pytest.mark.django_db
def test_metrics_can_require_a_token(client, settings):
    settings.ODCM_METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


@pytest.mark.django_db
def test_error_pages_leak_nothing(client, settings):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"Traceback" not in response.content and b"urlpatterns" not in response.content


@pytest.mark.django_db
def test_unexpected_api_error_is_a_json_500_without_a_trace(admin_user):
    from rest_framework.test import APIRequestFactory, force_authenticate
    from rest_framework.views import APIView

    from odcm.api.permissions import IsAuthenticatedUser

    class Boom(APIView):
        permission_classes = [IsAuthenticatedUser]

        def get(self, request):
            raise RuntimeError("secret internals")

    request = APIRequestFactory().get("/x")
    force_authenticate(request, user=admin_user)
    response = Boom.as_view()(request)
    assert response.status_code == 500
    assert "secret internals" not in str(response.data)


def test_openapi_schema_and_docs_are_served_from_local_assets(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content and b"bearerAuth" in schema.content
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "cdn" not in docs.lower() and "https://" not in docs
