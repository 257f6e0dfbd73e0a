"""The search page and the switcher's type-ahead results."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from spaces.services import search as finder


@login_required
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    results = finder.search(request.user, str(request.GET.get("q") or ""))
    return render(request, "spaces/search.html", {"results": results})


@login_required
@require_GET
def switcher_results(request: HttpRequest) -> HttpResponse:
    """The switcher's matches for what is typed (an htmx fragment of menu items)."""
    text = finder.clean(request.GET.get("q"))
    spaces = finder.find_spaces(request.user, text, limit=12)
    # A few projects after the spaces: the menu stays short; the search page lists more.
    projects = finder.find_projects(request.user, text, limit=5)
    context = {"spaces": spaces, "projects": projects, "text": text}
    return render(request, "spaces/_switcher_results.html", context)
