"""Air-gapped promotion end to end against two octosim instances: the bundle and the
package archive travel as files (``export_bundle`` / ``import_bundle``), the receipt comes
back as a file."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from octosim.testing import SimInstance
from odcm.clients import client_for
from promotions.errors import PromotionError
from promotions.models import InboundBundle, Promotion, Receipt
from promotions.services import bundles, importing, inbox, receipts, routes
from tests.octopus.pipeline_helpers import QUICK_POLL, SPACE, make_pipeline
from tests.sharing.conftest import enlist_sim, space_of

from .conftest import SECRET, assert_nowhere, exchange

pytestmark = pytest.mark.django_db(transaction=True)

DB_PASSWORD = "db-Plaintext-Must-Not-Leak-9902"


def source_release(sim_inst: Any, tmp_path: Path) -> tuple[Any, str]:
    """A project with a package step, variables (one sensitive) and release 1.0.0 deployed
    to Development and Test."""
    with client_for(sim_inst) as c:
        pipe = make_pipeline(c, tmp_path)
        project = c.get(f"/api/{SPACE}/projects/{pipe.project['Id']}")
        variables = c.variable_set(SPACE, project["VariableSetId"])
        variables["Variables"] = [
            {
                "Name": "Api.Url",
                "Value": "https://dev.example",
                "Scope": {"Environment": [pipe.environments["Development"]]},
            },
            {
                "Name": "Api.Url",
                "Value": "https://prod.example",
                "Scope": {"Environment": [pipe.environments["Production"]]},
            },
            {"Name": "Db.Password", "Value": DB_PASSWORD, "IsSensitive": True, "Type": "Sensitive"},
        ]
        c.update_variable_set(SPACE, variables)
        c.create_release_v1(SPACE, pipe.name, version="1.0.0", packages=["Deploy web:1.0.0"])
        for env in ("Development", "Test"):
            started = c.deploy_release_v1(SPACE, pipe.name, "1.0.0", [env])
            c.wait_for_tasks([t.task_id for t in started], SPACE, policy=QUICK_POLL)
        release = c.project_releases(SPACE, pipe.project["Id"])[0]
    return pipe, str(release["Id"])


def test_air_gapped_promotion_end_to_end(
    make_sim_instance: Callable[..., SimInstance],
    tmp_path: Path,
    space_owner: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sim_a, sim_b = make_sim_instance("promo-src", seed=11), make_sim_instance("promo-dst", seed=12)
    for sim in (sim_a, sim_b):
        sim.set_faults(step_ms=20)
    inst_a, inst_b = enlist_sim(sim_a), enlist_sim(sim_b, owners=[space_owner])
    pair = exchange(space_of(inst_a), space_of(inst_b))
    pipe, release_id = source_release(inst_a, tmp_path)

    route = routes.set_route(
        pair.source, pipe.project["Id"], pipe.name, ["Development", "Test", pair.target_peer]
    )
    routes.set_value(route, pair.target_peer, "Production", "Api.Key", SECRET, sensitive=True)
    routes.set_value(route, pair.target_peer, "Production", "Region", "eu-west")

    # The route refuses a promotion until every earlier stage succeeded.
    with pytest.raises(PromotionError, match="not been deployed successfully to Staging"):
        strict = routes.set_route(
            pair.source, pipe.project["Id"], pipe.name, ["Development", "Staging", pair.target_peer]
        )
        bundles.build(pair.source, strict, release_id, pair.target_peer)
    route = routes.set_route(
        pair.source, pipe.project["Id"], pipe.name, ["Development", "Test", pair.target_peer]
    )

    # Source side: export the bundle and the package archive as files.
    out = tmp_path / "transfer"
    call_command(
        "export_bundle",
        str(pair.source.pk),
        pipe.project["Id"],
        release_id,
        str(pair.target_peer.pk),
        "--out",
        str(out),
    )
    promotion = Promotion.objects.get()
    token_file = out / f"{promotion.pk}.odcm-bundle"
    assert token_file.is_file() and SECRET not in token_file.read_text()
    assert (out / "packages" / f"{pipe.package_id}.1.0.0.zip").is_file()

    # Target side: upload; the review shows what is in it and what is still needed.
    call_command("import_bundle", str(token_file), "--review-only")
    bundle = InboundBundle.objects.get()
    assert bundle.state == InboundBundle.State.REVIEW
    assert any("waits for review" in m.subject for m in mail.outbox)
    with client_for(inst_b) as c:
        page = importing.review(bundle, c)
    assert page["packages"][0]["present"] == "missing"
    assert [s["name"] for s in page["steps"]] == ["Deploy web", "Smoke test"]
    shown = {(v["name"], v["scope"]): v["value"] for v in page["variables"]}
    assert shown[("Api.Url", "Production")] == "https://prod.example"
    assert shown[("Db.Password", "")] == "missing"
    assert shown[("Api.Key", "Production")] == "provided"
    assert page["needed"] == [
        {"name": "Db.Password", "environment": "Production", "state": "missing"}
    ]

    # Importing with a value missing is refused, and nothing reaches Octopus.
    with pytest.raises(PromotionError, match="Values still needed"):
        importing.import_bundle(bundle, importing.archive_source(out / "packages"))
    assert not _remote_projects(inst_b)

    importing.supply(bundle, "Db.Password", "Production", DB_PASSWORD)
    with client_for(inst_b) as c:
        lifecycle = c.create_lifecycle(
            SPACE,
            {
                "Name": "Prod only",
                "Phases": [
                    {
                        "Name": "Production",
                        "OptionalDeploymentTargets": [_env(c, "Production")],
                        "AutomaticDeploymentTargets": [],
                        "MinimumEnvironmentsBeforePromotion": 0,
                        "IsOptionalPhase": False,
                    }
                ],
            },
        )
    call_command(
        "import_bundle",
        str(token_file),
        "--packages",
        str(out / "packages"),
        "--lifecycle",
        lifecycle["Id"],
    )
    bundle.refresh_from_db()
    assert bundle.state == InboundBundle.State.IMPORTED, bundle.last_error

    # The remote project in the target: process, variables (sensitive ones set), release.
    with client_for(inst_b) as c:
        (project,) = _remote_projects(inst_b)
        assert project["Name"] == f"{pair.source.name}: {pipe.name}"
        process = c.project_deployment_process(SPACE, project["Id"])
        assert [s["Name"] for s in process["Steps"]] == ["Deploy web", "Smoke test"]
        stored = sim_b.truth()
        release = c.release(SPACE, bundle.imported_release_id)
        assert release["Version"] == "1.0.0"
        assert release["SelectedPackages"][0]["Version"] == "1.0.0"
        pkg = c.package(SPACE, f"packages-{pipe.package_id}.1.0.0")
        assert pkg["Hash"] == bundle.payload["packages"][0]["sha1"]
        variables = c.variable_set(SPACE, project["VariableSetId"])
        by_name = {v["Name"]: v for v in variables["Variables"]}
        assert by_name["Api.Key"]["IsSensitive"] and by_name["Api.Key"]["Value"] is None
        assert by_name["Region"]["Value"] == "eu-west"
        assert set(sim_b.sensitive_has_value(project["VariableSetId"]).values()) == {True}
        assert stored  # the simulator holds the state read above
        # Importing the same file again is a no-op.
        call_command("import_bundle", str(token_file), "--packages", str(out / "packages"))
        assert len(_remote_projects(inst_b)) == 1

        # Deploy in the target; a signed receipt comes back as a file.
        started = c.deploy_release_v1(SPACE, project["Name"], "1.0.0", ["Production"])
        c.wait_for_tasks([t.task_id for t in started], SPACE, policy=QUICK_POLL)
    (issued,) = receipts.scan(pair.target)
    assert receipts.scan(pair.target) == []  # once per deployment
    receipt_file = tmp_path / "receipt.odcm-receipt"
    receipt_file.write_text(issued.token)
    call_command("import_receipt", str(receipt_file))
    got = Receipt.objects.get(direction=Receipt.Direction.IN)
    assert (got.environment, got.outcome, got.release_version) == ("Production", "Success", "1.0.0")
    call_command("import_receipt", str(receipt_file))  # a replay is a no-op
    assert Receipt.objects.filter(direction=Receipt.Direction.IN).count() == 1

    rows = receipts.progression(route, "1.0.0")
    assert [(r["stage"], r["state"]) for r in rows] == [
        ("Development", "Success"),
        ("Test", "Success"),
        (f"{pair.target_peer.name}: Production", "Success"),
    ]
    # No sensitive value in clear in any database column, log record or email.
    assert_nowhere([SECRET, DB_PASSWORD], caplog)


def test_a_tampered_package_is_never_imported(
    make_sim_instance: Callable[..., SimInstance], tmp_path: Path
) -> None:
    sim_a, sim_b = (
        make_sim_instance("promo-src2", seed=13),
        make_sim_instance("promo-dst2", seed=14),
    )
    sim_a.set_faults(step_ms=20)
    inst_a, inst_b = enlist_sim(sim_a), enlist_sim(sim_b)
    pair = exchange(space_of(inst_a), space_of(inst_b))
    pipe, release_id = source_release(inst_a, tmp_path)
    route = routes.set_route(pair.source, pipe.project["Id"], pipe.name, [pair.target_peer])
    out = tmp_path / "transfer"
    call_command(
        "export_bundle",
        str(pair.source.pk),
        pipe.project["Id"],
        release_id,
        str(pair.target_peer.pk),
        "--out",
        str(out),
    )
    archive = out / "packages" / f"{pipe.package_id}.1.0.0.zip"
    archive.write_bytes(archive.read_bytes() + b"tampered")
    bundle, _ = inbox.receive(Promotion.objects.get().token)
    importing.supply(bundle, "Db.Password", "", DB_PASSWORD)
    with pytest.raises(PromotionError, match="does not match the bundle's manifest"):
        importing.import_bundle(bundle, importing.archive_source(out / "packages"))
    bundle.refresh_from_db()
    assert bundle.state == InboundBundle.State.FAILED and "SHA-256" in bundle.last_error
    assert not _remote_projects(inst_b)
    with client_for(inst_b) as c:
        assert not c.packages(SPACE, filter=pipe.package_id)
    assert route.stages.count() == 1


def _remote_projects(inst: Any) -> list[dict[str, Any]]:
    with client_for(inst) as c:
        return [p for p in c.get_all(f"/api/{SPACE}/projects") if ": " in p["Name"]]


def _env(c: Any, name: str) -> str:
    return str(next(e["Id"] for e in c.get_all(f"/api/{SPACE}/environments") if e["Name"] == name))


def test_an_import_interrupted_after_its_octopus_writes_finishes_once_without_duplicates(
    make_sim_instance: Callable[..., SimInstance], tmp_path: Path
) -> None:
    """A worker killed after writing to Octopus but before recording the outcome leaves the
    bundle claimed; once the lease runs out the import runs again and adds nothing twice."""
    sim_a, sim_b = (
        make_sim_instance("promo-src3", seed=15),
        make_sim_instance("promo-dst3", seed=16),
    )
    sim_a.set_faults(step_ms=20)
    inst_a, inst_b = enlist_sim(sim_a), enlist_sim(sim_b)
    pair = exchange(space_of(inst_a), space_of(inst_b))
    pipe, release_id = source_release(inst_a, tmp_path)
    route = routes.set_route(pair.source, pipe.project["Id"], pipe.name, [pair.target_peer])
    out = tmp_path / "transfer"
    call_command(
        "export_bundle",
        str(pair.source.pk),
        pipe.project["Id"],
        release_id,
        str(pair.target_peer.pk),
        "--out",
        str(out),
    )
    bundle, _ = inbox.receive(Promotion.objects.get().token)
    importing.supply(bundle, "Db.Password", "", DB_PASSWORD)
    with client_for(inst_b) as c:
        lifecycle = c.lifecycles(SPACE)[0]["Id"]
    importing.import_bundle(
        bundle, importing.archive_source(out / "packages"), lifecycle_id=lifecycle
    )
    # As a worker killed before its outcome was recorded would leave it: claimed, not imported.
    InboundBundle.objects.filter(pk=bundle.pk).update(
        state=InboundBundle.State.REVIEW,
        imported_release_id="",
        claim_token=uuid.uuid4(),
        claimed_until=timezone.now() + dt.timedelta(minutes=5),
    )
    bundle.refresh_from_db()
    with pytest.raises(PromotionError, match="being imported by someone else"):
        importing.import_bundle(bundle, importing.archive_source(out / "packages"))
    InboundBundle.objects.filter(pk=bundle.pk).update(claimed_until=timezone.now())
    done = importing.import_bundle(
        bundle, importing.archive_source(out / "packages"), lifecycle_id=lifecycle
    )
    assert done.state == InboundBundle.State.IMPORTED
    (project,) = _remote_projects(inst_b)
    with client_for(inst_b) as c:
        assert len(c.project_releases(SPACE, project["Id"])) == 1
        assert len(c.packages(SPACE, filter=pipe.package_id)) == 1
        variables = c.variable_set(SPACE, project["VariableSetId"])["Variables"]
    assert sorted(v["Name"] for v in variables).count("Db.Password") == 1
    assert route.stages.count() == 1
