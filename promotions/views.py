"""Pages: read through services and visible_to, write through services."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "promotions/index.html", {})


def review(request: HttpRequest, pk: str) -> HttpResponse:
    return render(request, "promotions/index.html", {})
