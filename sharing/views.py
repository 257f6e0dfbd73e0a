"""Sharing pages: the publisher's view of an item, the subscriber's view of a subscription,
trusts, imports and the pause switch. Views call sharing.services, never tasks."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST

from identity.access import is_admin
from octopus import OctopusError
from odcm.redirects import redirect_next
from odcm.ui import space_label
from sharing import access, rule_views
from sharing.forms import (
    ChangeForm,
    ImportStepTemplateForm,
    ImportVariableSetForm,
    ItemForm,
    SubscribeForm,
    TrustForm,
    blank_row,
    content_from_post,
    editor_rows,
)
from sharing.kinds import ContentError, kind_for
from sharing.kinds.variable_set import REFERENCE_TYPES, VARIABLE_TYPES
from sharing.models import Revision, SharedItem, Subscription, Trust
from sharing.services import catalog, drafts, items, queueing, subscriptions, trusts
from sharing.services.subscriptions import SubscriptionError, problem_counts
from sharing.services.trusts import TrustError
from sharing.signals import item_panels
from spaces.models import Space


def _item(request: HttpRequest, pk: Any) -> SharedItem:
    return get_object_or_404(
        access.visible_items(request.user).select_related("publisher__instance"), pk=pk
    )


def _editable_item(request: HttpRequest, pk: Any) -> SharedItem:
    item = _item(request, pk)
    if not access.can_edit_item(request.user, item):
        raise PermissionDenied
    return item


def _subscription(request: HttpRequest, pk: Any) -> Subscription:
    return get_object_or_404(
        access.visible_subscriptions(request.user).select_related(
            "item__publisher__instance", "space__instance"
        ),
        pk=pk,
    )


def _managed_subscription(request: HttpRequest, pk: Any) -> Subscription:
    sub = _subscription(request, pk)
    if not access.can_manage_subscriber(request.user, sub.space):
        raise PermissionDenied
    return sub


def _errors(request: HttpRequest, exc: Exception) -> None:
    for error in exc.errors if isinstance(exc, ContentError) else [str(exc)]:
        messages.error(request, error)


@login_required
def index(request: HttpRequest) -> HttpResponse:
    user = request.user
    spaces = Space.objects.visible_to(user)
    published = (
        access.visible_items(user)
        .filter(publisher__in=spaces)
        .select_related("publisher__instance")
        .order_by("name")
    )
    received = (
        access.visible_subscriptions(user)
        .filter(space__in=spaces)
        .exclude(status=Subscription.Status.UNMANAGED)
        .select_related("item__publisher__instance", "space__instance")
    )
    offered = (
        access.visible_items(user)
        .exclude(publisher__in=spaces)
        .exclude(subscriptions__space__in=spaces)
        .select_related("publisher__instance")
    )
    pending = (
        Trust.objects.filter(subscriber__in=spaces, state=Trust.State.PROPOSED)
        .select_related("publisher__instance", "subscriber__instance")
        .order_by("created_at")
    )
    context = {
        "published": published,
        "received": received,
        "offered": offered,
        "pending_trusts": pending,
        "counts": problem_counts(access.visible_subscriptions(user)),
        "paused": queueing.paused(),
        "is_admin": is_admin(user),
    }
    return render(request, "sharing/index.html", context)


@login_required
def item_create(request: HttpRequest) -> HttpResponse:
    managed = access.managed_spaces(request.user)
    kind = request.GET.get("kind", SharedItem.Kind.VARIABLE_SET)
    if kind not in SharedItem.Kind.values:
        raise Http404
    form = ItemForm(request.POST or None, spaces=managed)
    if request.method == "POST" and form.is_valid():
        try:
            item = items.create_item(
                form.cleaned_data["publisher"],
                kind,
                form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                policy=form.cleaned_data["policy"],
                actor=request.user,
            )
        except ContentError as exc:
            _errors(request, exc)
        else:
            return redirect("sharing:edit", item.pk)
    return render(request, "sharing/item_form.html", {"form": form, "kind": kind})


@login_required
def item(request: HttpRequest, pk: Any) -> HttpResponse:
    item = _item(request, pk)
    latest = items.latest(item)
    secrets = set(items.secrets_of(latest)) if latest else set()
    subs = item.subscriptions.select_related("space__instance").order_by("space__name")
    can_edit = access.can_edit_item(request.user, item)
    if not can_edit:  # subscriber-side managers see only their own spaces' subscriptions
        subs = subs.filter(space__in=Space.objects.visible_to(request.user))
    candidates = _subscribable(request.user, item)
    context = {
        "item": item,
        "latest": latest,
        "rows": editor_rows(latest.content, secrets, blank=0)
        if latest and item.kind == SharedItem.Kind.VARIABLE_SET
        else [],
        "template_json": json.dumps(latest.content, indent=2)
        if latest and item.kind == SharedItem.Kind.STEP_TEMPLATE
        else "",
        "summary": kind_for(item.kind).summary(latest.content) if latest else "",
        "revisions": item.revisions.order_by("-number")[:50],
        "subscriptions": subs,
        "can_edit": can_edit,
        "subscribe_form": SubscribeForm(spaces=candidates) if candidates else None,
        "rules": rule_views.rules_shown(request.user, item, can_edit),
        "panels": item_panels(request, item),
    }
    return render(request, "sharing/item.html", context)


@login_required
def item_edit(request: HttpRequest, pk: Any) -> HttpResponse:
    item = _editable_item(request, pk)
    if item.kind != SharedItem.Kind.VARIABLE_SET:
        return _edit_template(request, item)
    if request.method == "POST":
        action = request.POST.get("action", "publish")
        if action == "discard":
            drafts.discard_draft(item, actor=request.user)
            messages.info(request, "Draft discarded; the editor shows the latest revision.")
            return redirect("sharing:edit", item.pk)
        try:
            content = content_from_post(request.POST)
            if action in ("draft", "add"):
                drafts.save_draft(item, content, actor=request.user)
                messages.success(request, "Draft saved (not published).")
                return redirect("sharing:edit", item.pk)
            saved = drafts.publish(
                item, content, actor=request.user, comment=request.POST.get("comment", "")
            )
        except ContentError as exc:
            # A refused publish keeps the rows as the draft (drafts.publish): shown below.
            _errors(request, exc)
        else:
            if saved.created:
                messages.success(request, f"Published revision {saved.revision.number}.")
            else:
                messages.info(request, "Nothing changed; no new revision.")
            return redirect("sharing:item", item.pk)
    return render(request, "sharing/item_edit.html", _editor_context(request, item))


def _editor_context(request: HttpRequest, item: SharedItem) -> dict[str, Any]:
    """The editor's rows (the draft if there is one, else the latest revision) and the
    publisher space's scope names to pick from."""
    latest = items.latest(item)
    published = set(items.secrets_of(latest))
    draft = drafts.draft_of(item)
    if draft is not None:
        rows = editor_rows(draft.content, published | draft.secret_keys)
    else:
        rows = editor_rows(latest.content if latest else {}, published)
    scopes = catalog.scope_catalog(item.publisher, refresh=request.GET.get("refresh") == "1")
    blank = blank_row()
    for row in [*rows, blank]:
        row["scopes"] = _scope_pickers(scopes, row)
    return {
        "item": item,
        "rows": rows,
        "row_count": len(rows),
        "draft": draft,
        "stale": draft is not None and draft.base_revision < item.latest_revision,
        "needs_values": draft.needs_values if draft else [],
        "scopes": scopes,
        "scope_labels": SCOPE_LABELS,
        "types": [
            (value, label, REFERENCE_TYPES.get(value, "")) for value, label in VARIABLE_TYPES
        ],
        "references": [(c, scopes.of(c)) for c in catalog.REFERENCE_COLLECTIONS],
        "blank": blank,
    }


SCOPE_LABELS = (
    ("environments", "Environments"),
    ("roles", "Roles"),
    ("tenant_tags", "Tenant tags"),
)


def _scope_pickers(scopes: catalog.ScopeCatalog, row: dict[str, Any]) -> list[dict[str, Any]]:
    """One picker per scope: the space's names (those already in the row stay offered even
    when the space no longer has them); a text field when the space offers none."""
    pickers = []
    for key, label in SCOPE_LABELS:
        known, picked = scopes.of(key), list(row[key])
        names = list(known) + sorted(set(picked) - set(known))
        pickers.append(
            {
                "key": key,
                "label": label,
                "pick": bool(known),
                "options": [(name, name in picked) for name in names],
                "text": ", ".join(picked),
            }
        )
    return pickers


def _edit_template(request: HttpRequest, item: SharedItem) -> HttpResponse:
    latest = items.latest(item)
    text = json.dumps(latest.content, indent=2) if latest else "{}"
    if request.method == "POST":
        text = request.POST.get("template", "")
        try:
            saved = items.save_revision(
                item, json.loads(text), actor=request.user, comment=request.POST.get("comment", "")
            )
        except (ContentError, ValueError) as exc:
            _errors(request, exc)
        else:
            messages.success(request, f"Revision {saved.revision.number}.")
            return redirect("sharing:item", item.pk)
    return render(request, "sharing/template_edit.html", {"item": item, "text": text})


@login_required
def diff(request: HttpRequest, pk: Any) -> HttpResponse:
    item = _item(request, pk)
    try:
        new = int(request.GET.get("to") or item.latest_revision)
        old = int(request.GET.get("from") or max(new - 1, 0))
        changes = items.diff(item, old, new)
    except (ValueError, Revision.DoesNotExist):
        raise Http404 from None
    return render(
        request, "sharing/diff.html", {"item": item, "old": old, "new": new, "changes": changes}
    )


@login_required
@require_POST
def push(request: HttpRequest, pk: Any) -> HttpResponse:
    item = _editable_item(request, pk)
    queued = subscriptions.push_now(item, actor=request.user)
    messages.success(
        request,
        f"Queued revision {item.latest_revision} for {queued} space{pluralize(queued)}.",
    )
    return redirect("sharing:item", item.pk)


@login_required
@require_POST
def pause_item(request: HttpRequest, pk: Any) -> HttpResponse:
    item = _editable_item(request, pk)
    held = request.POST.get("paused") == "1"
    items.update_item(item, actor=request.user, paused=held)
    messages.success(request, "Deliveries of this item paused." if held else "Resumed.")
    return redirect("sharing:item", item.pk)


@login_required
@require_POST
def subscribe(request: HttpRequest, pk: Any) -> HttpResponse:
    item = _item(request, pk)
    # One space: any the user manages (the service explains a missing trust); a tag or
    # region: only spaces that can subscribe now.
    form = SubscribeForm(
        request.POST,
        spaces=access.managed_spaces(request.user),
        expand=_subscribable(request.user, item),
    )
    if not form.is_valid():
        raise PermissionDenied
    selector = form.selector()
    if selector is not None:  # a tag or region: a rule that follows it
        rule_views.add_rule(request, item, *selector, mode=form.cleaned_data["mode"])
        return redirect("sharing:item", item.pk)
    chosen = form.spaces()
    if not chosen:
        raise PermissionDenied
    try:
        sub = subscriptions.subscribe(
            item, chosen[0], mode=form.cleaned_data["mode"], actor=request.user
        )
    except SubscriptionError as exc:
        _errors(request, exc)
        return redirect("sharing:item", item.pk)
    messages.success(request, f"{space_label(sub.space)} subscribed.")
    return redirect("sharing:subscription", sub.pk)


def _subscribable(user: Any, item: SharedItem) -> list[Space]:
    """Spaces ``user`` manages that the publisher trusts and that do not receive ``item`` yet."""
    trusted = set(
        Trust.objects.filter(publisher=item.publisher, state=Trust.State.ACCEPTED).values_list(
            "subscriber_id", flat=True
        )
    )
    subscribed = set(
        item.subscriptions.exclude(status=Subscription.Status.UNMANAGED).values_list(
            "space_id", flat=True
        )
    )
    return [s for s in access.managed_spaces(user) if s.pk in trusted and s.pk not in subscribed]


@login_required
def subscription(request: HttpRequest, pk: Any) -> HttpResponse:
    sub = _subscription(request, pk)
    wanted = sub.pinned_revision or sub.item.latest_revision
    changes = []
    if wanted and (sub.delivered_revision or 0) < wanted:
        changes = items.diff(sub.item, sub.delivered_revision or 0, wanted)
    context = {
        "sub": sub,
        "item": sub.item,
        "wanted": wanted,
        "changes": changes,
        "deliveries": sub.deliveries.all()[:20],
        "can_manage": access.can_manage_subscriber(request.user, sub.space),
        "modes": Subscription.Mode.choices,
    }
    return render(request, "sharing/subscription.html", context)


@login_required
@require_POST
def sync(request: HttpRequest, pk: Any) -> HttpResponse:
    sub = _managed_subscription(request, pk)
    try:
        subscriptions.sync_now(sub, actor=request.user)
    except SubscriptionError as exc:
        _errors(request, exc)
    else:
        messages.success(request, "Sync queued.")
    return redirect("sharing:subscription", sub.pk)


@login_required
@require_POST
def change(request: HttpRequest, pk: Any) -> HttpResponse:
    sub = _managed_subscription(request, pk)
    form = ChangeForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("pinned_revision", []) + form.errors.get("mode", []):
            messages.error(request, str(error))
        return redirect("sharing:subscription", sub.pk)
    try:
        subscriptions.change(
            sub,
            mode=form.cleaned_data["mode"] or None,
            pinned_revision=form.cleaned_data["pinned_revision"],
            actor=request.user,
        )
    except SubscriptionError as exc:
        _errors(request, exc)
    return redirect("sharing:subscription", sub.pk)


@login_required
@require_POST
def unsubscribe(request: HttpRequest, pk: Any) -> HttpResponse:
    sub = _managed_subscription(request, pk)
    subscriptions.unsubscribe(sub, actor=request.user)
    messages.success(request, "Unsubscribed; the copy stays in Octopus, no longer managed.")
    return redirect("sharing:index")


@login_required
def trust_list(request: HttpRequest) -> HttpResponse:
    managed = access.managed_spaces(request.user)
    form = TrustForm(
        request.POST or None, managed=managed, visible=Space.objects.visible_to(request.user)
    )
    if request.method == "POST" and form.is_valid():
        publisher = form.cleaned_data["publisher"]
        try:
            if form.cleaned_data.get("subscriber"):
                trusts.propose(publisher, form.cleaned_data["subscriber"], actor=request.user)
            else:
                trusts.propose_by_tag(publisher, form.cleaned_data["tag"], actor=request.user)
        except TrustError as exc:
            _errors(request, exc)
        else:
            messages.success(request, "Trust proposed; the subscriber's managers accept it.")
            return redirect("sharing:trusts")
    rows = [
        (t, access.can_manage_subscriber(request.user, t.subscriber))
        for t in access.visible_trusts(request.user).select_related(
            "publisher__instance", "subscriber__instance"
        )
    ]
    return render(request, "sharing/trusts.html", {"form": form, "rows": rows})


@login_required
@require_POST
def trust_action(request: HttpRequest, pk: Any, verb: str) -> HttpResponse:
    trust = get_object_or_404(access.visible_trusts(request.user), pk=pk)
    subscriber_side = access.can_manage_subscriber(request.user, trust.subscriber)
    if verb == "accept" and subscriber_side:
        trusts.accept(trust, actor=request.user)
    elif verb == "revoke" and (
        subscriber_side or access.can_manage_subscriber(request.user, trust.publisher)
    ):
        trusts.revoke(trust, actor=request.user)
    else:
        raise PermissionDenied
    return redirect_next(request, "sharing:trusts")


@login_required
@require_POST
def pause(request: HttpRequest) -> HttpResponse:
    if not is_admin(request.user):
        raise PermissionDenied
    queueing.set_paused(request.POST.get("paused") == "1", actor=request.user)
    return redirect("sharing:index")


@login_required
def import_page(request: HttpRequest) -> HttpResponse:
    managed = access.managed_spaces(request.user)
    which = request.POST.get("which", "")
    vs_form = ImportVariableSetForm(request.POST if which == "vs" else None, spaces=managed)
    st_form = ImportStepTemplateForm(
        request.POST if which == "st" else None,
        request.FILES if which == "st" else None,
        spaces=managed,
    )
    try:
        if which == "vs" and vs_form.is_valid():
            data = vs_form.cleaned_data
            item = items.import_variable_set(
                data["publisher"],
                data["library_variable_set_id"],
                actor=request.user,
                policy=data["policy"],
            )
            return redirect("sharing:edit" if item.draft else "sharing:item", item.pk)
        if which == "st" and st_form.is_valid():
            data = st_form.cleaned_data
            if data.get("file"):
                item = items.import_step_template(
                    data["publisher"],
                    json.loads(data["file"].read().decode("utf-8")),
                    actor=request.user,
                    policy=data["policy"],
                )
            elif data.get("action_template_id"):
                item = items.import_action_template(
                    data["publisher"],
                    data["publisher"],
                    data["action_template_id"],
                    actor=request.user,
                    policy=data["policy"],
                )
            else:
                raise ContentError(["Upload a JSON export or give an action template id."])
            return redirect("sharing:item", item.pk)
        if which == "folder" and is_admin(request.user):
            return _import_folder(request, managed)
    except (ContentError, OctopusError, ValueError) as exc:
        _errors(request, exc)
    chosen = _chosen_publisher(request, managed)
    library = catalog.library(chosen, refresh=request.GET.get("refresh") == "1") if chosen else None
    shared = (
        set(SharedItem.objects.filter(publisher=chosen).values_list("kind", "name"))
        if chosen
        else set()
    )
    context = {
        "vs_form": vs_form,
        "st_form": st_form,
        "folder": settings.ODCM_SHARING_TEMPLATES_DIR,
        "is_admin": is_admin(request.user),
        "managed": managed,
        "chosen": chosen,
        "library": library,
        "shared_sets": {n.lower() for k, n in shared if k == SharedItem.Kind.VARIABLE_SET},
        "shared_templates": {n.lower() for k, n in shared if k == SharedItem.Kind.STEP_TEMPLATE},
    }
    return render(request, "sharing/import.html", context)


def _chosen_publisher(request: HttpRequest, managed: list[Space]) -> Space | None:
    """The publisher space whose sets and templates are listed: one the user manages."""
    wanted = request.POST.get("publisher") or request.GET.get("publisher") or ""
    return next((s for s in managed if str(s.pk) == wanted), None)


def _import_folder(request: HttpRequest, managed: list[Any]) -> HttpResponse:
    from pathlib import Path

    folder = settings.ODCM_SHARING_TEMPLATES_DIR
    publisher = next((s for s in managed if str(s.pk) == request.POST.get("publisher")), None)
    if not folder or publisher is None:
        raise ContentError(["Choose a publisher space; ODCM_SHARING_TEMPLATES_DIR must be set."])
    imported, problems = items.import_template_folder(publisher, Path(folder), actor=request.user)
    messages.success(request, f"Imported {len(imported)} step templates.")
    for problem in problems[:20]:
        messages.warning(request, problem)
    return redirect("sharing:index")
