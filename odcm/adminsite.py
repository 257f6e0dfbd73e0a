"""The Django admin, made safe: no sign-in of its own, every change audited, and service-owned
rows read-only.

- Signing in goes through allauth (``/accounts/login/``), so two-factor authentication, the
  sign-in rate limits and the per-account lock apply; the admin's own password form is never
  served. Its password-change page sends people to allauth's, which is rate limited.
- Every model registered on the site, by ODCM or by a library (allauth's social apps, email
  addresses, authenticators), is wrapped in :class:`AuditedAdmin`: additions, changes and
  deletions made here are written to the audit log like any other change.
- Models whose changes have side effects (instances, spaces, tokens, grants, shared items…)
  use :class:`ReadOnlyAdmin`: they are changed through ODCM's pages, API and services only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from odcm.redirects import safe_next

# What writes an admin change to the audit log: audit registers its ``record`` at start-up
# (``register_recorder`` in AuditConfig.ready), so odcm never imports the apps above it.
Recorder = Callable[..., Any]
_recorder: Recorder | None = None


def register_recorder(function: Recorder) -> None:
    global _recorder
    _recorder = function


def _plain(value: Any) -> Any:
    """A JSON-safe summary of a form value (model rows by their name)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, QuerySet | list | tuple | set):
        return sorted(str(v) for v in value)
    return str(value)


class AuditedAdmin(admin.ModelAdmin[Any]):
    """Writes every change made in the admin to ODCM's audit log (secrets scrubbed there)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        changed = list(getattr(form, "changed_data", []) or [])
        request._odcm_admin_changes = {  # type: ignore[attr-defined]
            "before": {f: _plain(form.initial.get(f)) for f in changed} if change else {},
            "after": {f: _plain(form.cleaned_data.get(f)) for f in changed},
        }
        super().save_model(request, obj, form, change)

    def _record(self, request: HttpRequest, verb: str, obj: Model, message: Any = "") -> None:
        if _recorder is None:  # pragma: no cover - the audit app is always installed
            raise RuntimeError("No audit recorder registered (is the audit app installed?)")
        changes = getattr(request, "_odcm_admin_changes", None) or {}
        text = message if isinstance(message, str) else json.dumps(message)
        _recorder(
            f"admin.{verb}",
            request=request,
            obj=obj,
            before=changes.get("before"),
            after=changes.get("after"),
            message=f"{verb} in the Django admin: {text}"[:1000],
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        result = super().log_addition(request, obj, message)
        self._record(request, "add", obj, message)
        return result

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        result = super().log_change(request, obj, message)
        self._record(request, "change", obj, message)
        return result

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        result = super().log_deletions(request, queryset)
        for obj in queryset:
            self._record(request, "delete", obj)
        return result


class ReadOnlyAdmin(AuditedAdmin):
    """Rows owned by a service: visible to administrators, never added, changed or deleted
    here (the service keeps its invariants, Octopus in step and the audit log)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OdcmAdminSite(admin.AdminSite):
    site_header = "ODCM administration"
    site_title = "ODCM administration"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and user.is_superuser)

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """No password form here: allauth's sign-in (MFA, rate limits, lock) or nothing."""
        target = safe_next(request, request.GET.get("next"), default=reverse("admin:index"))
        if request.user.is_authenticated:
            # Signed in but not an administrator: the admin does not exist for them.
            return HttpResponseRedirect(reverse("home"))
        return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({'next': target})}")

    def password_change(  # type: ignore[override]
        self, request: HttpRequest, extra_context: Any = None
    ) -> HttpResponse:
        return HttpResponseRedirect(reverse("account_change_password"))

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        """Every registration is audited, whoever makes it."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AuditedAdmin):
            admin_class = type(admin_class.__name__, (AuditedAdmin, admin_class), {})
        super().register(model_or_iterable, admin_class, **options)


class OdcmAdminConfig(AdminConfig):
    default_site = "odcm.adminsite.OdcmAdminSite"
