"""API permission classes. The default is DenyAll: a view that forgets to choose is closed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

if TYPE_CHECKING:  # importing views here would be circular: DRF imports this module from views
    from rest_framework.views import APIView


class DenyAll(BasePermission):
    message = "This endpoint is not open to anyone."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return False


# The areas an API token can be limited to, by the package that serves the endpoint. One
# table for every endpoint: a new app's endpoints belong to its area as soon as it is named here
# (an app not named is reachable only by tokens without an area limit).
TOKEN_AREAS: dict[str, str] = {
    "registry": "Instances and spaces",
    "reports": "Monitoring, dashboards and reports",
    "sharing": "Sharing of variable sets and step templates",
    "access": "Groups, grants, users and tokens",
    "audit": "The audit log",
    "config": "Configuration as code",
    "promotions": "Remote release promotions",
    "managed": "Managed spaces: blueprints and template projects",
    "rollouts": "Rollouts, pipelines and deployment runs",
}
AREA_OF_PACKAGE = {
    "spaces": "registry",
    "monitoring": "reports",
    "sharing": "sharing",
    "identity": "access",
    "audit": "audit",
    "fleetconfig": "config",
    "promotions": "promotions",
    "managed": "managed",
    "rollouts": "rollouts",
}


def area_of(view: Any) -> str:
    """The area of an endpoint: its ``token_area``, else its package's."""
    explicit = getattr(view, "token_area", None)
    if explicit:
        return str(explicit)
    package = type(view).__module__.split(".", 1)[0]
    return AREA_OF_PACKAGE.get(package, package)


class TokenScope(BasePermission):
    """An API token acts within its scope: read-only tokens only read, and a token limited
    to areas reaches only their endpoints. (Its instance and space limits are applied where
    everything is filtered: ``identity.access``.)"""

    message = "This API token is read-only."

    def has_permission(self, request: Request, view: APIView) -> bool:
        token: Any = request.auth
        if token is None:
            return True
        areas = getattr(token, "areas", None) or []
        if areas and area_of(view) not in areas:
            self.message = (
                f"This API token is not allowed in the {area_of(view)} area "
                f"(it is limited to {', '.join(sorted(areas))})."
            )
            return False
        if request.method in SAFE_METHODS:
            return True
        self.message = TokenScope.message
        return not getattr(token, "read_only", False)


class IsAuthenticatedUser(BasePermission):
    """Signed in (session or token), active, and within the token's scope."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        scope = TokenScope()
        if not scope.has_permission(request, view):
            self.message = scope.message
            return False
        return True


class IsAdmin(IsAuthenticatedUser):
    """ODCM administrators (Django superusers)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return super().has_permission(request, view) and bool(request.user.is_superuser)
