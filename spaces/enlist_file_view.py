"""Enlist many instances from a CSV or YAML file, with a result per row (administrators)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from identity.access import is_admin
from spaces.forms import EnlistFileForm
from spaces.services import bulk_enlist


@login_required
@require_http_methods(["GET", "POST"])
def enlist_file(request: HttpRequest) -> HttpResponse:
    if not is_admin(request.user):
        raise PermissionDenied
    form = EnlistFileForm(request.POST or None, request.FILES or None)
    results: list[bulk_enlist.Result] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > bulk_enlist.MAX_BYTES:
                raise bulk_enlist.FileError("The file is larger than 1000 kB.")
            rows = bulk_enlist.parse(upload.read(), upload.name or "")
        except bulk_enlist.FileError as exc:
            form.add_error("file", str(exc))
        else:
            results = bulk_enlist.enlist_rows(rows, actor=request.user, request=request)
    context = {
        "form": form,
        "results": results,
        "enlisted": sum(1 for r in results if r.ok),
        "failed": sum(1 for r in results if not r.ok),
    }
    return render(request, "spaces/enlist_file.html", context, status=400 if form.errors else 200)
