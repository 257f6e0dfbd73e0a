"""GitOps: poll a repository for the fleet file; plan each new commit, apply it automatically
or after approval; report drift between the applied commit and ODCM.

Git runs as a subprocess on a bare mirror under ``ODCM_VAR_DIR/gitops``. Credentials travel in
git's environment (an HTTP header set through ``GIT_CONFIG_*``), never on its command line or
in a URL, so neither ``ps`` nor an error message shows them.
"""

from __future__ import annotations

import base64
import os
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import record
from fleetconfig import plan as planner
from fleetconfig.document import MAX_BYTES, InvalidDocument, parse
from fleetconfig.models import GitSource, Plan
from fleetconfig.services import PlanNotApplicable, StalePlan, apply_plan, make_plan
from octopus.errors import URLNotAllowed
from odcm.clients import url_policy
from odcm.crypto import CryptoError, seal, unseal

GIT_TIMEOUT = 120
LEASE = timedelta(minutes=5)
ALLOWED_SCHEMES = ("https", "http", "git", "ssh", "file")


class GitError(Exception):
    pass


def validate_url(url: str) -> str:
    """https, http, git and ssh URLs pass ODCM's outbound-URL policy (as Octopus URLs do);
    file:// names a repository on this server's disk (air-gapped mirrors)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES or parts.username or parts.password:
        raise GitError(
            "Give the repository as https://, http://, git://, ssh:// or file:// without a "
            "user name or password in it (put credentials in their own fields)."
        )
    if parts.scheme != "file":
        if not parts.hostname:
            raise GitError("The repository URL has no host.")
        try:
            url_policy().resolve(parts.hostname, url=url)  # checks every address
        except URLNotAllowed as exc:
            raise GitError(str(exc)) from exc
        except OSError as exc:
            raise GitError(f"The host {parts.hostname} does not resolve.") from exc
    return url


def save_source(
    *,
    name: str,
    url: str,
    branch: str = "main",
    path: str = "fleet.yaml",
    username: str = "",
    token: str | None = None,
    auto_apply: bool = False,
    prune: bool = False,
    actor: Any = None,
    source: GitSource | None = None,
) -> GitSource:
    """Create or change a Git source; ``token`` None keeps the stored one."""
    url = validate_url(url)
    with transaction.atomic():
        row = source or GitSource(name=name.strip())
        row.name, row.url, row.branch, row.path = name.strip(), url, branch.strip(), path.strip()
        row.username, row.auto_apply, row.prune = username.strip(), auto_apply, prune
        row.save()
        if token is not None:
            if token:
                seal(row, "token", token)
            else:
                row.token = ""
            row.save(update_fields=["token"])
        record(
            "config.git_source.save",
            actor=actor,
            obj=row,
            after={
                "name": row.name,
                "url": row.url,
                "branch": row.branch,
                "path": row.path,
                "auto_apply": auto_apply,
                "prune": prune,
            },
        )
    return row


def _mirror(source: GitSource) -> Path:
    return Path(settings.VAR_DIR) / "gitops" / str(source.pk)


def _git_env(source: GitSource) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_TERMINAL_PROMPT": "0",
        "HOME": str(Path(settings.VAR_DIR) / "gitops"),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    if source.token:
        try:
            token = unseal(source, "token")
        except CryptoError as exc:
            raise GitError("The stored credentials cannot be decrypted; enter them again.") from exc
        pair = f"{source.username or 'git'}:{token}".encode()
        env.update(
            {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": "Authorization: Basic " + base64.b64encode(pair).decode(),
            }
        )
    return env


def _git(source: GitSource, *args: str, max_output: int = MAX_BYTES) -> bytes:
    mirror = _mirror(source)
    try:
        done = subprocess.run(
            ["git", "--git-dir", str(mirror), *args],
            env=_git_env(source),
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git did not answer within {GIT_TIMEOUT} s.") from exc
    except FileNotFoundError as exc:
        raise GitError("git is not installed on this server.") from exc
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {lines[-1] if lines else done.returncode}")
    if len(done.stdout) > max_output:
        raise GitError("The file in the repository is larger than 5 MiB.")
    return done.stdout


def fetch(source: GitSource) -> tuple[str, bytes]:
    """The newest commit of the branch and the fleet file in it."""
    mirror = _mirror(source)
    if not (mirror / "HEAD").exists():
        mirror.mkdir(parents=True, exist_ok=True)
        _git(source, "init", "--bare", "--quiet")
    _git(
        source,
        "fetch",
        "--quiet",
        "--depth=1",
        "--no-tags",
        source.url,
        f"+refs/heads/{source.branch}:refs/heads/odcm",
    )
    commit = _git(source, "rev-parse", "refs/heads/odcm").decode().strip()
    try:
        body = _git(source, "show", f"{commit}:{source.path}")
    except GitError as exc:
        raise GitError(f"{source.path} is not in {source.branch} at {commit[:12]}.") from exc
    return commit, body


def claim(source: GitSource) -> bool:
    now = timezone.now()
    return bool(
        GitSource.objects.filter(pk=source.pk, enabled=True)
        .exclude(claimed_until__gt=now)
        .update(claimed_until=now + LEASE)
    )


def poll(source: GitSource, *, force: bool = False) -> Plan | None:
    """Plan the branch's newest commit if it is new (or ``force``); apply it if automatic."""
    if not claim(source):
        return None
    plan = None
    try:
        commit, body = fetch(source)
        source.last_error = ""
        if force or commit != source.last_commit:
            plan = make_plan(
                body, prune=source.prune, source=Plan.Source.GIT, git_source=source, commit=commit
            )
            source.last_commit = commit
            if source.auto_apply and plan.status == Plan.Status.PLANNED:
                plan = approve(plan)
    except GitError as exc:
        source.last_error = str(exc)
    finally:
        source.last_polled_at = timezone.now()
        source.claimed_until = None
        source.save(update_fields=["last_error", "last_commit", "last_polled_at", "claimed_until"])
    return plan


def approve(plan: Plan, *, actor: Any = None) -> Plan:
    """Apply a Git plan; the source then records the commit as applied."""
    try:
        plan = apply_plan(plan, actor=actor)
    except (StalePlan, PlanNotApplicable):
        plan.refresh_from_db()
        return plan
    if plan.git_source_id and plan.status in (Plan.Status.APPLIED, Plan.Status.PARTIAL):
        GitSource.objects.filter(pk=plan.git_source_id).update(applied_commit=plan.commit)
    return plan


def drift(source: GitSource) -> list[planner.Change] | None:
    """What differs between the applied commit's file and ODCM now (None: nothing applied)."""
    applied = (
        source.plans.filter(commit=source.applied_commit)
        .exclude(status=Plan.Status.INVALID)
        .first()
    )
    if not source.applied_commit or applied is None:
        return None
    try:
        result = planner.make(parse(applied.document), prune=source.prune)
    except InvalidDocument:
        return None
    return [c for c in result.changes if c.action in ("create", "change", "delete")]
