"""Server administration: licence status, maintenance mode; a project's channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from octosim import resources as R
from octosim.errors import invalid
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, now

LIMITS = (
    ("Projects", "projects", 1000),
    ("Machines", "machines", 5000),
    ("Tenants", "tenants", 500),
)


def _maintenance(ctx: Ctx) -> Doc:
    config = ctx.st.sys("configuration")
    if "maintenance" not in config:
        config["maintenance"] = {
            "Id": "maintenance",
            "IsInMaintenanceMode": False,
            "LastModifiedOn": None,
            "LastModifiedBy": None,
        }
    return config["maintenance"]


def in_maintenance(ctx: Ctx) -> bool:
    return bool(_maintenance(ctx)["IsInMaintenanceMode"])


def get_maintenance(ctx: Ctx) -> Reply:
    return 200, {**_maintenance(ctx), "Links": {"Self": "/api/maintenanceconfiguration"}}


def put_maintenance(ctx: Ctx) -> Reply:
    body = ctx.json_body()
    if not isinstance(body.get("IsInMaintenanceMode"), bool):
        raise invalid("The IsInMaintenanceMode field is required.")
    doc = _maintenance(ctx)
    doc["IsInMaintenanceMode"] = body["IsInMaintenanceMode"]
    R.stamp(doc, ctx.username, now())
    return 200, {**doc, "Links": {"Self": "/api/maintenanceconfiguration"}}


def license_status(ctx: Ctx) -> Reply:
    st = ctx.st
    limits = []
    for name, collection, limit in LIMITS:
        usage = sum(len(st.col(space_id, collection)) for space_id in st.spaces)
        limits.append(
            {
                "Name": name,
                "CurrentUsage": usage,
                "EffectiveLimit": limit,
                "EffectiveLimitDescription": str(limit),
                "IsUnlimited": False,
                "Disposition": "Information" if usage < limit else "Error",
                "Message": f"You are using {usage} of {limit} {name.lower()}.",
            }
        )
    users = len(st.sys("users"))
    limits.append(
        {
            "Name": "Users",
            "CurrentUsage": users,
            "EffectiveLimit": 2147483647,
            "EffectiveLimitDescription": "Unlimited",
            "IsUnlimited": True,
            "Disposition": "Information",
            "Message": f"You are using {users} users.",
        }
    )
    expiry = datetime.fromtimestamp(ctx.inst.anchor, tz=UTC) + timedelta(days=300)
    return 200, {
        "Id": "licenses-current-status",
        "IsCompliant": all(item["Disposition"] != "Error" for item in limits),
        "ComplianceSummary": "Your license is compliant.",
        "EffectiveExpiryDate": expiry.strftime("%Y-%m-%d"),
        "DaysToEffectiveExpiryDate": (expiry - datetime.now(UTC)).days,
        "DoesExpiryBlockKeyActivities": False,
        "HostingEnvironment": "SelfHosted",
        "PermissionsMode": "Full",
        "EffectiveNodeTaskLimit": 5,
        "EffectiveClusterTaskLimit": 5,
        "IsNodeTaskLimitControlledByLicense": False,
        "IsClusterTaskLimitControlledByLicense": False,
        "Limits": limits,
        "Messages": [],
        "Links": {"Self": "/api/licenses/licenses-current-status"},
    }


def register(router: Router) -> None:
    router.system("GET", "/maintenanceconfiguration", get_maintenance)
    router.system(
        "PUT", "/maintenanceconfiguration", put_maintenance, permission="AdministerSystem"
    )
    router.system("GET", "/licenses/licenses-current-status", license_status)
