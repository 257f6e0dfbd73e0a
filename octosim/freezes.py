"""Deployment freezes as the deployment rules see them (the API is :mod:`octosim.api_freezes`)."""

from __future__ import annotations

from octosim.state import Doc, InstanceState

COLLECTION = "deploymentfreezes"


def active_freeze(
    st: InstanceState, moment: float, project_id: str, environment_id: str, tenant_id: str | None
) -> Doc | None:
    """The first freeze that refuses this deployment now, if any."""
    for doc in st.sys(COLLECTION).values():
        if not doc["Start"] <= moment < doc["End"]:
            continue
        if environment_id in (doc["ProjectEnvironmentScope"].get(project_id) or []):
            return doc
        for scope in doc["TenantProjectEnvironmentScope"] if tenant_id else []:
            if (scope["TenantId"], scope["ProjectId"], scope["EnvironmentId"]) == (
                tenant_id,
                project_id,
                environment_id,
            ):
                return doc
    return None
