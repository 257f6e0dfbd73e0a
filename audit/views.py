"""Browse and filter the audit log (administrators only)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit import export
from audit.filters import AuditFilterForm, filter_entries
from audit.links import object_url
from audit.models import AuditEntry
from odcm.decorators import admin_required


@admin_required
def entry_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    entries = filter_entries(AuditEntry.objects.all(), form)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    for entry in page:
        entry.url = object_url(entry)  # type: ignore[attr-defined]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request, "audit/list.html", {"form": form, "page": page, "query": query.urlencode()}
    )


@admin_required
def entry_csv(request: HttpRequest) -> StreamingHttpResponse:
    """Every entry the filters match, newest first, as CSV."""
    form = AuditFilterForm(request.GET or None)
    entries = filter_entries(AuditEntry.objects.all(), form).iterator(chunk_size=1000)
    response = StreamingHttpResponse(export.rows(entries), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="odcm-audit-{stamp}.csv"'
    return response
