"""The three operations from the command line, the REST API and a Git repository."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from fleetconfig import gitops
from fleetconfig.models import GitSource, Plan
from fleetconfig.services import export_text
from identity.models import Group
from identity.services.tokens import create_token

from .conftest import SECRET

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def changed(doc: dict[str, Any]) -> dict[str, Any]:
    doc["groups"][0]["description"] = "From the file"
    return doc


def test_commands_export_plan_and_apply_with_their_exit_codes(
    fleet: dict[str, Any], tmp_path: Path
) -> None:
    code, text, _ = run("odcm_export")
    assert code == 0 and SECRET not in text
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    assert run("odcm_plan", str(path))[0] == 0
    path.write_text(yaml.safe_dump(changed(yaml.safe_load(text)), sort_keys=False))
    code, out, _ = run("odcm_plan", str(path))
    assert (
        code == 2 and "~ change group Platform" in out and 'description: "" -> From the file' in out
    )
    code, out, _ = run("odcm_plan", str(path), "--json")
    assert code == 2 and '"action": "change"' in out
    path.write_text("version: 1\ngroups: [{name: 3}]\n")
    code, _, err = run("odcm_plan", str(path))
    assert code == 1 and "line 2" in err
    path.write_text(yaml.safe_dump(changed(yaml.safe_load(text)), sort_keys=False))
    code, out, _ = run("odcm_apply", str(path), "--as", "ada")
    assert code == 0, out
    assert Group.objects.get(name="Platform").description == "From the file"
    assert run("odcm_plan", str(path))[0] == 0
    code, out, _ = run("odcm_export", "--only", "groups")
    assert list(yaml.safe_load(out)) == ["version", "groups"]


def test_the_api_plans_and_applies_by_id_and_refuses_a_stale_plan(
    fleet: dict[str, Any], admin_user: Any, member: Any
) -> None:
    api = APIClient()
    _, secret = create_token(admin_user, name="ci")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    exported = api.get("/api/v1/config/export/")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("application/yaml")
    text = exported.content.decode()
    assert text == export_text()
    doc = changed(yaml.safe_load(text))
    made = api.post("/api/v1/config/plans/", {"document": yaml.safe_dump(doc)}, format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["counts"]["change"] == 1
    applied = api.post(f"/api/v1/config/plans/{made.json()['id']}/apply/")
    assert applied.status_code == 200 and applied.json()["status"] == "applied"
    again = api.post(f"/api/v1/config/plans/{made.json()['id']}/apply/")
    assert again.status_code == 409

    doc["groups"][0]["description"] = "Second change"
    second = api.post("/api/v1/config/plans/", {"document": yaml.safe_dump(doc)}, format="json")
    Group.objects.filter(name="Platform").update(description="Edited meanwhile")
    stale = api.post(f"/api/v1/config/plans/{second.json()['id']}/apply/")
    assert stale.status_code == 409 and "changed since" in stale.json()["message"]
    assert Group.objects.get(name="Platform").description == "Edited meanwhile"

    bad = api.post("/api/v1/config/plans/", {"document": "version: 1\nnope: 1\n"}, format="json")
    assert bad.status_code == 400 and bad.json()["problems"][0]["line"] == 2
    assert api.get("/api/v1/config/export/?only=bogus").status_code == 400

    _, member_secret = create_token(member, name="m")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {member_secret}")
    assert other.get("/api/v1/config/export/").status_code == 403
    assert other.post("/api/v1/config/plans/", {"document": text}, format="json").status_code == 403
    assert other.get("/api/v1/config/schema/").status_code == 200


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> tuple[Path, Path]:
    """A bare repository (what a Git server holds) and a clone to commit from."""
    bare, work = tmp_path / "fleet.git", tmp_path / "work"
    subprocess.run(["git", "init", "--bare", "-q", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, capture_output=True)
    _git("config", "user.email", "ci@example.com", cwd=work)
    _git("config", "user.name", "CI", cwd=work)
    return bare, work


def _commit(work: Path, text: str, message: str) -> str:
    (work / "fleet.yaml").write_text(text)
    _git("add", "fleet.yaml", cwd=work)
    _git("commit", "-q", "-m", message, cwd=work)
    _git("push", "-q", "origin", "HEAD:main", cwd=work)
    return _git("rev-parse", "HEAD", cwd=work)


def test_a_git_commit_is_planned_then_applied_after_approval(
    fleet: dict[str, Any], repository: tuple[Path, Path], admin_user: Any
) -> None:
    bare, work = repository
    first = _commit(work, export_text(), "Export")
    source = gitops.save_source(name="fleet", url=f"file://{bare}", actor=admin_user)
    plan = gitops.poll(source)
    assert plan is not None and plan.commit == first and plan.change_count == 0
    assert gitops.poll(GitSource.objects.get()) is None  # nothing new: no second plan
    assert Plan.objects.filter(commit=first).count() == 1

    second = _commit(work, yaml.safe_dump(changed(yaml.safe_load(export_text()))), "Describe")
    plan = gitops.poll(GitSource.objects.get())
    assert plan is not None and plan.commit == second and plan.status == Plan.Status.PLANNED
    assert Group.objects.get(name="Platform").description == ""  # waits for approval
    plan = gitops.approve(plan, actor=admin_user)
    assert plan.status == Plan.Status.APPLIED
    source = GitSource.objects.get()
    assert source.applied_commit == second and source.last_error == ""
    assert gitops.drift(source) == []
    Group.objects.filter(name="Platform").update(description="Edited by hand")
    (drifted,) = gitops.drift(source) or []
    assert drifted.key == "Platform"


def test_automatic_git_sources_apply_new_commits(
    fleet: dict[str, Any], repository: tuple[Path, Path]
) -> None:
    bare, work = repository
    commit = _commit(work, yaml.safe_dump(changed(yaml.safe_load(export_text()))), "Auto")
    source = gitops.save_source(name="auto", url=f"file://{bare}", auto_apply=True)
    plan = gitops.poll(source)
    assert plan is not None and plan.status == Plan.Status.APPLIED
    assert GitSource.objects.get().applied_commit == commit
    assert Group.objects.get(name="Platform").description == "From the file"


def test_git_errors_are_recorded_without_credentials(fleet: dict[str, Any], tmp_path: Path) -> None:
    source = gitops.save_source(
        name="missing",
        url=f"file://{tmp_path}/nothing.git",
        username="bot",
        token="tok-Very-Secret-123",
    )
    assert "tok-Very-Secret-123" not in GitSource.objects.values_list("token", flat=True)[0]
    assert gitops.poll(source) is None
    source.refresh_from_db()
    assert source.last_error.startswith("git fetch failed")
    assert "tok-Very-Secret-123" not in source.last_error
    with pytest.raises(gitops.GitError):
        gitops.save_source(name="x", url="https://bot:pw@example.com/fleet.git")
    with pytest.raises(gitops.GitError, match="always refused"):
        gitops.save_source(name="y", url="https://169.254.169.254/fleet.git")
