"""What the blueprint and instance-baseline pages share: saving a revision from the page's
form, and the plan and apply buttons. ``place`` is what a target is ("space",
"instance"), for the messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from managed.models import ManagedParent
from managed.services.content import BlueprintInvalid
from odcm.work import enqueue


def save_revision(
    request: HttpRequest,
    form: Form,
    save: Callable[..., Any],
    parent: ManagedParent,
    url: str,
) -> HttpResponse | None:
    """Save the form's document with ``save`` (the kind's ``save_revision``): the redirect
    to ``url`` once saved, or None to show the form again with what is wrong."""
    if not form.is_valid():
        return None
    try:
        saved = save(
            parent,
            form.cleaned_data["document"],
            comment=form.cleaned_data["comment"],
            actor=request.user,
        )
    except BlueprintInvalid as exc:  # BaselineInvalid too
        form.add_error("document", str(exc))
        return None
    note = f"Saved as revision {saved.number}." if saved else "Nothing changed."
    messages.success(request, note)
    return redirect(url, pk=parent.pk)


def plan(
    request: HttpRequest, task: str, parent: ManagedParent, url: str, place: str
) -> HttpResponse:
    """Queue ``task`` to plan every target (with prune if the form asks)."""
    enqueue(task, str(parent.pk), request.POST.get("prune") == "1")
    messages.info(request, f"Planning every {place}; refresh to see each plan.")
    return redirect(url, pk=parent.pk)


def apply(
    request: HttpRequest,
    queue_apply: Callable[..., int],
    parent: ManagedParent,
    url: str,
    place: str,
) -> HttpResponse:
    """Queue an apply of the latest revision to every target (``queue_apply`` of the kind's
    broker; with prune if the form asks)."""
    prune = request.POST.get("prune") == "1"
    queued = queue_apply(parent, prune=prune, actor=request.user)
    word = "Applying (with prune)" if prune else "Applying"
    messages.success(request, f"{word} revision {parent.latest_revision} to {queued} {place}(s).")
    return redirect(url, pk=parent.pk)
