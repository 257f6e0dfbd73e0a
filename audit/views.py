"""Browse and filter the audit log (administrators only)."""

from __future__ import annotations

from django.contrib.auth.decorators import user_passes_test
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.filters import AuditFilterForm, filter_entries
from audit.models import AuditEntry


@user_passes_test(lambda u: u.is_active and u.is_superuser)
def entry_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    entries = filter_entries(AuditEntry.objects.all(), form)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request, "audit/list.html", {"form": form, "page": page, "query": query.urlencode()}
    )
