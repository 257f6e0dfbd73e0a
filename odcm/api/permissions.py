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


class TokenScope(BasePermission):
    """Read-only API tokens may only read."""

    message = "This API token is read-only."

    def has_permission(self, request: Request, view: APIView) -> bool:
        token: Any = request.auth
        if request.method in SAFE_METHODS or token is None:
            return True
        return not getattr(token, "read_only", False)


class IsAuthenticatedUser(BasePermission):
    """Signed in (session or token), active, and within the token's scope."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        if not TokenScope().has_permission(request, view):
            self.message = TokenScope.message
            return False
        return True


class IsAdmin(IsAuthenticatedUser):
    """ODCM administrators (Django superusers)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return super().has_permission(request, view) and bool(request.user.is_superuser)
