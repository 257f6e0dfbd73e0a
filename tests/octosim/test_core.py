"""Root document, paging envelope, auth and error bodies."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from octosim.testing import SimInstance
from tests.octosim.conftest import Api


def test_root_document_is_anonymous_and_names_the_version(sim_instance: SimInstance) -> None:
    for path in ("/api", "/api/"):
        resp = httpx.get(sim_instance.url + path, trust_env=False)
        assert resp.status_code == 200
        doc = resp.json()
        assert doc["Application"] == "Octopus Deploy"
        assert doc["Version"] == sim_instance.version
        assert doc["ApiVersion"] == "3.0.0"
        assert doc["InstallationId"] == sim_instance.installation_id
        vdir = "/" + sim_instance.slug
        assert doc["Links"]["Self"] == f"{vdir}/api"
        assert doc["Links"]["Spaces"].startswith(f"{vdir}/api/spaces")
        assert doc["Links"]["Projects"].startswith(f"{vdir}/api/Spaces-1/projects")
        assert resp.headers["Octopus-Node"].endswith(f"version={sim_instance.version}")


def test_missing_or_unknown_key_gets_401_with_octopus_body(sim_instance: SimInstance) -> None:
    for key in ("", "API-NOTAREALKEY0000000000000000"):
        resp = Api(sim_instance, key).request("GET", "/api/spaces")
        assert resp.status_code == 401
        body = resp.json()
        assert "provide a valid API key" in body["ErrorMessage"]
        assert body["Errors"] == []


def test_api_key_is_accepted_in_the_query_string(sim_instance: SimInstance) -> None:
    resp = httpx.get(
        f"{sim_instance.url}/api/spaces", params={"apikey": sim_instance.api_key}, trust_env=False
    )
    assert resp.status_code == 200


def test_read_only_key_reads_but_gets_403_on_writes(ro_api: Api) -> None:
    assert ro_api.get("/api/Spaces-1/environments")["TotalResults"] >= 3
    resp = ro_api.post("/api/Spaces-1/environments", {"Name": "Nope"})
    assert resp.status_code == 403
    body = resp.json()
    assert body["ErrorMessage"].endswith("Missing permission: EnvironmentCreate")
    assert "HelpText" in body


def test_unknown_id_gets_404_with_error_body(api: Api) -> None:
    resp = api.request("GET", "/api/Spaces-1/projects/Projects-99999")
    assert resp.status_code == 404
    assert resp.json()["ErrorMessage"]
    resp = api.request("GET", "/api/Spaces-999/projects")
    assert resp.status_code == 404
    assert "Spaces-999" in resp.json()["ErrorMessage"]


def test_invalid_bodies_get_400_with_errors(api: Api) -> None:
    resp = api.post("/api/Spaces-1/projectgroups", {"Description": "no name"})
    assert resp.status_code == 400
    body = resp.json()
    assert body["ErrorMessage"] and body["Errors"] == ["The Name field is required."]
    name = f"Group {uuid.uuid4().hex[:6]}"
    assert api.post("/api/Spaces-1/projectgroups", {"Name": name}).status_code == 201
    dup = api.post("/api/Spaces-1/projectgroups", {"Name": name.upper()})
    assert dup.status_code == 400
    assert "already exists" in dup.json()["Errors"][0]


def test_paging_envelope_and_page_next(api: Api) -> None:
    total = api.get("/api/Spaces-1/deployments")["TotalResults"]
    assert total > 5
    page = api.get("/api/Spaces-1/deployments", params={"take": 2})
    assert page["ItemType"] == "Deployment"
    assert page["ItemsPerPage"] == 2 and len(page["Items"]) == 2
    assert page["NumberOfPages"] == -(-total // 2)
    assert page["LastPageNumber"] == page["NumberOfPages"] - 1
    links = page["Links"]
    path = f"/{api.inst.slug}/api/Spaces-1/deployments"  # links include the virtual directory
    assert links["Page.Next"] == f"{path}?skip=2&take=2"
    assert links["Page.Current"] == f"{path}?skip=0&take=2"
    assert links["Page.All"] == f"{path}?skip=0&take=2147483647"
    assert "Template" in links and "Self" in links
    seen = []
    url: str | None = "/api/Spaces-1/deployments?skip=0&take=7"
    while url:
        page = api.get(url)
        seen += [d["Id"] for d in page["Items"]]
        url = page["Links"].get("Page.Next")
        url = url.removeprefix(f"/{api.inst.slug}") if url else None
    assert len(seen) == total == len(set(seen))
    last = api.get("/api/Spaces-1/deployments", params={"skip": total - 1, "take": 2})
    assert "Page.Next" not in last["Links"] and len(last["Items"]) == 1


def test_page_next_keeps_the_query_filters_but_never_the_api_key(api: Api) -> None:
    query = {"states": "Success", "name": "Deploy", "spaces": "Spaces-1"}
    total = api.get("/api/tasks", params={**query, "take": 0})["TotalResults"]
    assert total > 5
    seen: list[str] = []
    page = api.get("/api/tasks", params={**query, "take": 4, "apikey": api.inst.api_key})
    assert api.inst.api_key not in str(page["Links"])
    while True:
        assert all(t["State"] == "Success" and t["Name"] == "Deploy" for t in page["Items"])
        seen += [t["Id"] for t in page["Items"]]
        nxt = page["Links"].get("Page.Next")
        if not nxt:
            break
        assert "states=Success" in nxt and "take=4" in nxt
        page = api.get(nxt.removeprefix(f"/{api.inst.slug}"))
    assert len(seen) == total == len(set(seen))


def test_default_take_is_30_and_take_zero_counts_only(api: Api) -> None:
    page = api.get("/api/tasks")
    assert page["ItemsPerPage"] == 30 and len(page["Items"]) == 30
    count = api.get("/api/tasks", params={"take": 0})
    assert count["Items"] == [] and count["TotalResults"] == page["TotalResults"]


def test_ids_name_and_partial_name_filters(api: Api) -> None:
    envs = api.get("/api/Spaces-1/environments/all")
    assert isinstance(envs, list) and [e["Name"] for e in envs][:2] == ["Development", "Test"]
    by_name = api.get("/api/Spaces-1/environments", params={"name": "production"})
    assert [e["Name"] for e in by_name["Items"]] == ["Production"]
    partial = api.get("/api/Spaces-1/environments", params={"partialName": "EVEL"})
    assert [e["Name"] for e in partial["Items"]] == ["Development"]
    ids = [envs[0]["Id"], envs[-1]["Id"]]
    by_ids = api.get("/api/Spaces-1/environments", params={"ids": ",".join(ids)})
    assert sorted(e["Id"] for e in by_ids["Items"]) == sorted(ids)


def test_three_route_forms_reach_the_same_space(api: Api) -> None:
    a = api.get("/api/Spaces-1/projects/all")
    b = api.get("/api/spaces/Spaces-1/projects/all")
    c = api.get("/api/projects/all")
    assert a == b == c and a


def test_status_endpoints(api: Api) -> None:
    assert api.get("/api/serverstatus/health")["IsOperatingNormally"] is True
    assert api.request("GET", "/api/octopusservernodes/ping").status_code == 200
    me = api.get("/api/users/me")
    assert me["Username"] == "admin" and me["IsRequestor"] is True


def test_control_api_refuses_clients_that_are_not_on_loopback() -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from octosim.control import loopback_only

    class Transport:
        def __init__(self, host: str) -> None:
            self.host = host

        def get_extra_info(self, name: str, default: object = None) -> object:
            return (self.host, 40000) if name == "peername" else default

        def is_closing(self) -> bool:
            return False

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    async def call(host: str, path: str) -> int:
        request = make_mocked_request("GET", path, transport=Transport(host))
        return (await loopback_only(request, handler)).status

    assert asyncio.run(call("127.0.0.1", "/_sim/instances")) == 200
    assert asyncio.run(call("::1", "/_sim/instances")) == 200
    assert asyncio.run(call("10.1.2.3", "/_sim/instances")) == 403
    assert asyncio.run(call("10.1.2.3", "/some-instance/api")) == 200  # the API itself is open


def test_every_write_route_names_the_permission_a_read_only_key_lacks() -> None:
    from octosim.server import build_router

    writes = [r for r in build_router().routes if r.method != "GET"]
    assert writes and all(r.permission for r in writes), [
        f"{r.method} {r.path}" for r in writes if not r.permission
    ]


def test_read_only_key_is_refused_on_every_kind_of_write(ro_api: Api) -> None:
    for method, path, permission in (
        ("POST", "/api/spaces", "SpaceCreate"),
        ("PUT", "/api/spaces/Spaces-1", "SpaceEdit"),
        ("DELETE", "/api/Spaces-1/projects/Projects-1", "ProjectDelete"),
        ("POST", "/api/teams", "TeamCreate"),
        ("POST", "/api/tasks/ServerTasks-1/cancel", "TaskCancel"),
        ("POST", "/api/communityactiontemplates/CommunityActionTemplates-1/installation",
         "ActionTemplateCreate"),
    ):  # fmt: skip
        resp = ro_api.request(method, path, json={})
        assert resp.status_code == 403, (method, path)
        assert resp.json()["ErrorMessage"].endswith(f"Missing permission: {permission}")
    assert ro_api.get("/api/users/me")["Username"] == "viewer"
