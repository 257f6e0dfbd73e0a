"""What import writes as the remote project's process and variables: the snapshot's steps
and variables with environment scopes mapped by name to this space's environments, the values
the bundle carried (opened with this space's key) and those supplied here. The edit check
compares the project with the same mapping."""

from __future__ import annotations

from typing import Any

from odcm.crypto import unseal

from ... import formats
from ...errors import PromotionError
from ...models import InboundBundle
from .. import identities


def _map_envs(
    ids: list[str], source_envs: dict[str, str], envs: dict[str, str], target: str
) -> list[str] | None:
    """Source environment ids -> this space's ids by name ("<Target>: Production" is the
    remote environment for this space's Production). None: none of them exists here."""
    if not ids:
        return []
    mapped = []
    for ident in ids:
        name = source_envs.get(ident, ident)
        if name.startswith(f"{target}: "):
            name = name[len(target) + 2 :]
        if name in envs:
            mapped.append(envs[name])
    return mapped or None


def _steps(
    steps: list[dict[str, Any]], source_envs: dict[str, str], envs: dict[str, str], target: str
) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        step = {k: v for k, v in step.items() if k != "Id"}
        actions = []
        for action in step.get("Actions") or []:
            action = {k: v for k, v in action.items() if k != "Id"}
            mapped = _map_envs(list(action.get("Environments") or []), source_envs, envs, target)
            # An action scoped only to environments this space does not have never runs here.
            action["Environments"] = mapped or []
            if mapped is None:
                action["IsDisabled"] = True
            action["Channels"] = []
            action["TenantTags"] = []
            action["Packages"] = [
                {k: v for k, v in r.items() if k != "Id"} for r in action.get("Packages") or []
            ]
            actions.append(action)
        step["Actions"] = actions
        out.append(step)
    return out


def map_steps(
    steps: list[dict[str, Any]], p: dict[str, Any], envs: dict[str, str], target: str
) -> list[dict[str, Any]]:
    """The snapshot's steps as import writes them in this space (also what the edit check
    compares with)."""
    return _steps(steps, p.get("environments") or {}, envs, target)


def snapshot_variables(
    p: dict[str, Any], envs: dict[str, str], target: str
) -> list[dict[str, Any]]:
    """The snapshot's variables (library sets folded in) scoped by environment name, without
    the sensitive ones Octopus did not return (those arrive as carried or supplied values)."""
    out: list[dict[str, Any]] = []
    for doc in [p["variables"]["project"], *p["variables"]["library"]]:
        source_envs = {
            e["Id"]: e["Name"] for e in (doc.get("ScopeValues") or {}).get("Environments") or []
        }
        for var in doc.get("Variables") or []:
            if var.get("IsSensitive") and var.get("Value") in (None, ""):
                continue  # arrives below, from the bundle's sealed values or the importer
            scope = var.get("Scope") or {}
            mapped = _map_envs(list(scope.get("Environment") or []), source_envs, envs, target)
            if mapped is None:
                continue
            new_scope = {"Environment": mapped} if mapped else {}
            if scope.get("Role"):
                new_scope["Role"] = list(scope["Role"])
            out.append(
                {
                    "Name": var["Name"],
                    "Value": var.get("Value"),
                    "Type": var.get("Type", "String"),
                    "IsSensitive": False,
                    "Scope": new_scope,
                }
            )
    return out


def bundle_variables(
    bundle: InboundBundle, envs: dict[str, str], target: str
) -> list[dict[str, Any]]:
    """The snapshot's variables, the carried values for this space's environments, and the
    values supplied here."""
    p = bundle.payload
    out = snapshot_variables(p, envs, target)
    key, cert = identities.signer(_target_identity(bundle))
    for v in p.get("remote_values") or []:
        env_id = envs.get(v["environment"])
        value = formats.open_sealed(v["sealed"], cert, key) if v["sensitive"] else v.get("value")
        out.append(_var(v["name"], value, v["sensitive"], env_id))
    for row in bundle.values.all():
        value = unseal(row, "sealed_value") if row.sensitive else row.value
        out.append(_var(row.name, value, row.sensitive, envs.get(row.environment)))
    return out


def _var(name: str, value: Any, sensitive: bool, env_id: str | None) -> dict[str, Any]:
    return {
        "Name": name,
        "Value": value,
        "Type": "Sensitive" if sensitive else "String",
        "IsSensitive": sensitive,
        "Scope": {"Environment": [env_id]} if env_id else {},
    }


def _target_identity(bundle: InboundBundle) -> Any:
    identity = identities.for_fingerprint(str(bundle.payload["aud"]))
    if identity is None:
        raise PromotionError(
            "The identity this bundle was encrypted for was revoked; it cannot be opened."
        )
    return identity
