"""The instances console (the Instances page): search, filters, sortable columns, uptime,
bulk actions with a result per instance. Wired at the registry's URL by ``odcm/urls.py``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from identity import access
from monitoring.console_forms import BulkForm
from monitoring.filters import InstanceConsoleFilter
from monitoring.services import console
from spaces.models import Instance

SORTABLE = {"name", "status", "region", "version", "spaces", "uptime", "seen"}


@sensitive_post_parameters("new_keys")  # never in an error report
@login_required
@require_http_methods(["GET", "POST"])
def console_view(request: HttpRequest) -> HttpResponse:
    visible = Instance.objects.visible_to(request.user)
    results: list[console.RowResult] = []
    bulk = BulkForm(request.POST or None, instances=visible)
    if request.method == "POST" and bulk.is_valid():
        data = bulk.cleaned_data
        chosen = sorted(data["instances"], key=lambda i: i.name.lower())
        results = console.apply(data["action"], chosen, data, actor=request.user, request=request)
    filters = InstanceConsoleFilter(request.GET or None, queryset=visible)
    sort = str(request.GET.get("sort") or "name")
    if sort.lstrip("-") not in SORTABLE:
        sort = "name"
    valid = filters.is_valid() if filters.is_bound else True
    rows = console.rows(filters.qs if valid else visible.none(), sort)
    context: dict[str, Any] = {
        "rows": rows,
        "filters": filters,
        "filters_valid": valid,
        "filtered": bool(request.GET.dict().keys() - {"sort"}),
        "sort": sort,
        "bulk": bulk,
        "results": results,
        "failed_results": sum(1 for r in results if not r.ok),
        "can_enlist": access.is_admin(request.user),
        "is_admin": access.is_admin(request.user),
        "regions": sorted({r for r in visible.values_list("region", flat=True) if r}),
        "versions": sorted({v for v in visible.values_list("version", flat=True) if v}),
        "tags": console.tag_names(),
        "actions": console.ACTIONS,
        "action_label": console.ACTIONS.get(str(request.POST.get("action")), "Bulk action"),
        "bulk_errors": _errors(bulk) if bulk.is_bound else [],
        "uptime_days": console.UPTIME_DAYS,
    }
    bad_bulk = request.method == "POST" and not bulk.is_valid()
    status = 400 if bad_bulk or not valid else 200
    return render(request, "monitoring/console.html", context, status=status)


def _errors(form: BulkForm) -> list[str]:
    """The form's errors in words, each naming its field (none is ever a secret)."""
    out: list[str] = []
    for name, errors in form.errors.items():
        if name == "instances":
            out.append("Instances: select at least one instance you can see.")
            continue
        label = "" if name == "__all__" else f"{form.fields[name].label or name.title()}: "
        out.extend(f"{label}{error}" for error in errors)
    return out
