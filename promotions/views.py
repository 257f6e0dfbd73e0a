"""Pages: identities, remote spaces and trusts, routes and promote, inbox, review and
import, progression and compare. Reads go through promotions.access (a 404 for what you may
not see); writes go through the services; a refusal is shown as its message."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from octopus.errors import OctopusError
from odcm.clients import client_for

from . import access, forms, pages
from .errors import PromotionError
from .models import Promotion, Receipt, RemoteSpace, SpaceIdentity
from .pki import pretty
from .services import (
    bundles,
    compare,
    identities,
    importing,
    inbox,
    peers,
    receipts,
    routes,
    tenants,
    transfer,
)
from .services import edits as edit_check


def _space(request: HttpRequest, pk: Any) -> Any:
    return get_object_or_404(access.visible_spaces(request.user).select_related("instance"), pk=pk)


def _manage(request: HttpRequest, space: Any) -> None:
    if not access.can_manage(request.user, space):
        raise PermissionDenied


@login_required
def index(request: HttpRequest) -> HttpResponse:
    spaces = list(access.visible_spaces(request.user).select_related("instance").order_by("name"))
    current = {
        i.space_id: i
        for i in SpaceIdentity.objects.filter(space__in=spaces, state=SpaceIdentity.State.CURRENT)
    }
    managed = [s for s in spaces if access.can_manage(request.user, s)]
    if request.method == "POST" and request.POST.get("form") == "trust":
        form = forms.TrustForm(request.POST, spaces=managed)
        if form.is_valid():
            space = next(s for s in managed if str(s.pk) == form.cleaned_data["space"])
            try:
                peers.propose(
                    space,
                    form.cleaned_data["remote"],
                    form.cleaned_data["accepts"],
                    actor=request.user,
                )
                messages.success(request, "Trust added: confirm the fingerprint to activate it.")
                return redirect("promotions:index")
            except PromotionError as exc:
                form.add_error(None, exc.message)
    else:
        form = forms.TrustForm(spaces=managed)
    context = {
        "spaces": [(s, current.get(s.pk)) for s in spaces],
        "remotes": RemoteSpace.objects.prefetch_related("certificates"),
        "trusts": access.trusts(request.user),
        "inbox": access.inbox(request.user)[:50],
        "promotions": access.promotions(request.user)[:50],
        "routes": access.routes(request.user),
        "receipts": Receipt.objects.filter(
            space__in=spaces, direction=Receipt.Direction.OUT
        ).select_related("peer")[:50],
        "trust_form": form,
        "managed_spaces": managed,
        "remote_form": forms.RemoteForm(),
        "fetch_form": forms.FetchRemoteForm(),
        "upload_form": forms.UploadForm(prefix="bundle"),
        "receipt_form": forms.UploadForm(prefix="receipt"),
        "confirm_form": forms.ConfirmForm(),
        "is_admin": access.can_manage_remotes(request.user),
    }
    return render(request, "promotions/index.html", context)


@login_required
def space(request: HttpRequest, pk: Any) -> HttpResponse:
    sp = _space(request, pk)
    if request.method == "POST":
        _manage(request, sp)
        identities.generate(sp, actor=request.user)
        messages.success(
            request, "A new identity was generated; give its certificate to your peers."
        )
        return redirect("promotions:space", pk=sp.pk)
    rows = SpaceIdentity.objects.filter(space=sp)

    return render(
        request,
        "promotions/space.html",
        {
            "space": sp,
            "identities": [(i, pretty(i.fingerprint)) for i in rows],
            "can_manage": access.can_manage(request.user, sp),
        },
    )


@login_required
def certificate(request: HttpRequest, pk: Any) -> HttpResponse:
    sp = _space(request, pk)
    identity = identities.current(sp)
    if identity is None:
        raise Http404
    response = HttpResponse(identity.certificate_pem, content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="{sp.slug}.pem"'
    return response


@login_required
@require_POST
def remote_create(request: HttpRequest) -> HttpResponse:
    if not access.can_manage_remotes(request.user):
        raise PermissionDenied
    try:
        if request.POST.get("form") == "fetch":
            fetch = forms.FetchRemoteForm(request.POST)
            if not fetch.is_valid():
                raise PromotionError("Give the other ODCM's URL and its space id.")
            transfer.fetch_remote(
                fetch.cleaned_data["url"], str(fetch.cleaned_data["space_id"]), actor=request.user
            )
        else:
            form = forms.RemoteForm(request.POST, request.FILES)
            if not form.is_valid():
                raise PromotionError("Give a name and a PEM certificate.")
            peers.add_remote(
                form.cleaned_data["name"],
                certificate=form.pem(),
                url=form.cleaned_data["url"] or "",
                actor=request.user,
            )
        messages.success(request, "Remote space added. Add a trust and confirm its fingerprint.")
    except PromotionError as exc:
        messages.error(request, exc.message)
    return redirect("promotions:index")


@login_required
@require_POST
def trust_confirm(request: HttpRequest, pk: Any) -> HttpResponse:
    trust = get_object_or_404(access.trusts(request.user), pk=pk)
    _manage(request, trust.space)
    form = forms.ConfirmForm(request.POST)
    try:
        if not form.is_valid():
            raise PromotionError("Type the fingerprint.")
        peers.confirm(trust, form.cleaned_data["fingerprint"], actor=request.user)
        messages.success(request, "Fingerprint confirmed: the trust is active.")
    except PromotionError as exc:
        messages.error(request, exc.message)
    return redirect("promotions:index")


@login_required
def route(request: HttpRequest, pk: Any) -> HttpResponse:
    rt = get_object_or_404(access.routes(request.user), pk=pk)
    version = request.GET.get("release") or None
    try:
        rows = receipts.progression(rt, version)
        error = ""
    except PromotionError as exc:
        rows, error = [], exc.message
    stages = list(rt.stages.select_related("target"))
    targets = [s.target for s in stages if s.target is not None]
    can_manage = access.can_manage(request.user, rt.space)
    values = routes.held_values(rt)
    editing = next((v for v in values if str(v.pk) == request.GET.get("edit")), None)
    initial = (
        {
            "target": str(editing.environment.remote_id),
            "environment": editing.environment.name,
            "name": editing.name,
            "sensitive": editing.sensitive,
        }
        if editing
        else {}
    )
    return render(
        request,
        "promotions/route.html",
        {
            "route": rt,
            "stages": stages,
            "values": values,
            "value_form": forms.RemoteValueForm(targets=targets, initial=initial)
            if targets
            else None,
            "rows": rows,
            "error": error,
            "promotions": Promotion.objects.filter(space=rt.space, project_id=rt.project_id),
            "form": forms.PromoteForm(targets=targets),
            "can_manage": can_manage,
        },
    )


@login_required
@require_POST
def promote(request: HttpRequest, pk: Any) -> HttpResponse:
    rt = get_object_or_404(access.routes(request.user), pk=pk)
    _manage(request, rt.space)
    targets = [s.target for s in rt.stages.select_related("target") if s.target is not None]
    form = forms.PromoteForm(request.POST, targets=targets)
    if form.is_valid():
        target = next(t for t in targets if str(t.pk) == form.cleaned_data["target"])
        try:
            promotion = bundles.build(
                rt.space, rt, form.cleaned_data["release"], target, actor=request.user
            )
            transfer.promote(promotion, actor=request.user)
            messages.success(
                request, f"Bundle built for {target.name} ({promotion.get_state_display()})."
            )
        except PromotionError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, "Give a release id and a target.")
    return redirect("promotions:route", pk=rt.pk)


@login_required
def bundle_download(request: HttpRequest, pk: Any) -> HttpResponse:
    promotion = get_object_or_404(access.promotions(request.user), pk=pk)
    response = HttpResponse(promotion.token, content_type="application/jose")
    response["Content-Disposition"] = f'attachment; filename="{promotion.pk}.odcm-bundle"'
    return response


@login_required
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    form = forms.UploadForm(request.POST, request.FILES, prefix="bundle")
    if not form.is_valid():
        messages.error(request, "Choose a bundle file.")
        return redirect("promotions:index")
    text = form.cleaned_data["file"].read().decode("ascii", "replace")
    try:
        # What the bundle says decides its space; the uploader must be able to see that space.
        claims, _, target = inbox.verify(text)
        _space(request, target.space.pk)
        bundle, created = inbox.receive(text, actor=request.user)
    except PromotionError as exc:
        messages.error(request, f"Refused: {exc.message}")
        return redirect("promotions:index")
    if not created:
        messages.info(request, "This bundle was received before; nothing changed.")
    return redirect("promotions:review", pk=bundle.pk)


@login_required
def review(request: HttpRequest, pk: Any) -> HttpResponse:
    bundle = get_object_or_404(access.inbox(request.user), pk=pk)
    can_manage = access.can_manage(request.user, bundle.space)
    if request.method == "POST":
        _manage(request, bundle.space)
        form = forms.SupplyForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            try:
                if d["tenant"]:
                    tenants.supply(
                        bundle,
                        d["tenant"],
                        d["environment"],
                        d["name"],
                        d["value"],
                        actor=request.user,
                    )
                else:
                    importing.supply(
                        bundle, d["name"], d["environment"] or "", d["value"], actor=request.user
                    )
                messages.success(request, f"Value for {d['name']} saved.")
            except PromotionError as exc:
                messages.error(request, exc.message)
        return redirect("promotions:review", pk=bundle.pk)
    edits_error = ""
    try:
        with client_for(bundle.space.instance) as client:
            page = importing.review(bundle, client)
            if bundle.state == bundle.State.IMPORTED and bundle.imported_project_id:
                try:
                    edit_check.check_bundle(bundle, client)
                except OctopusError as exc:
                    edits_error = f"The imported project could not be checked for edits: {exc}"
    except OctopusError:
        page = importing.review(bundle)
    # A row without a tenant to fill for yet (a template, before any tenant is connected)
    # has nothing to enter.
    supply_forms = [
        (
            n,
            forms.SupplyForm(
                initial={
                    "name": n["name"],
                    "environment": n["environment"],
                    "tenant": n.get("tenant_id", ""),
                }
            )
            if n.get("tenant_id", "") is not None
            else None,
        )
        for n in page["needed"]
    ]
    return render(
        request,
        "promotions/review.html",
        {
            "bundle": bundle,
            "page": page,
            "supply_forms": supply_forms,
            "import_form": forms.ImportForm(),
            "edits_error": edits_error,
            "can_manage": can_manage,
        },
    )


@login_required
@require_POST
def do_import(request: HttpRequest, pk: Any) -> HttpResponse:
    bundle = get_object_or_404(access.inbox(request.user), pk=pk)
    _manage(request, bundle.space)
    form = forms.ImportForm(request.POST)
    lifecycle = form.cleaned_data["lifecycle"] if form.is_valid() else ""
    files = request.FILES.getlist("packages")
    if not files and bundle.source.url:
        # Connected: the packages come over the network, which a worker does (the page
        # shows the bundle as queued, then imported or failed with the reason).
        try:
            importing.queue_import(bundle, lifecycle_id=lifecycle, actor=request.user)
            messages.success(request, "Import queued: a worker fetches the packages and imports.")
        except PromotionError as exc:
            messages.error(request, exc.message)
        return redirect("promotions:review", pk=bundle.pk)
    try:
        with tempfile.TemporaryDirectory(prefix="odcm-archive-") as tmp:
            packages: importing.PackageSource | None = None
            if files:
                for upload in files:
                    name = Path(str(upload.name)).name  # never a path from the browser
                    if name in ("", ".", ".."):
                        continue
                    with open(Path(tmp) / name, "wb") as out:
                        for chunk in upload.chunks():
                            out.write(chunk)
                packages = importing.archive_source(Path(tmp))
            else:
                packages = importing.source_for(bundle)
            importing.import_bundle(bundle, packages, lifecycle_id=lifecycle, actor=request.user)
        messages.success(request, "Imported. The release can be deployed in this space.")
    except PromotionError as exc:
        messages.error(request, exc.message)
    return redirect("promotions:review", pk=bundle.pk)


@login_required
def compare_page(request: HttpRequest, pk: Any) -> HttpResponse:
    bundle = get_object_or_404(access.inbox(request.user), pk=pk)
    other = request.GET.get("release", "")
    result: dict[str, Any] | None = None
    error = ""
    source = bundle.source.local_space
    try:
        if not bundle.imported_release_id:
            raise PromotionError("Import the bundle first.")
        if other:
            result = compare.compare(bundle.space, other, bundle.space, bundle.imported_release_id)
        elif source is not None and source in access.visible_spaces(request.user):
            result = compare.compare(
                source,
                str(bundle.payload["release"]["id"]),
                bundle.space,
                bundle.imported_release_id,
            )
        else:
            raise PromotionError("Name a release of this space to compare with.")
    except PromotionError as exc:
        error = exc.message
    return render(
        request, "promotions/compare.html", {"bundle": bundle, "result": result, "error": error}
    )


@login_required
@require_POST
def receipt_upload(request: HttpRequest) -> HttpResponse:
    form = forms.UploadForm(request.POST, request.FILES, prefix="receipt")
    if form.is_valid():
        try:
            row, created = receipts.receive(
                form.cleaned_data["file"].read().decode("ascii", "replace"), actor=request.user
            )
            messages.success(
                request,
                f"Receipt {row.environment}: {row.outcome} recorded."
                if created
                else "This receipt was recorded before.",
            )
        except PromotionError as exc:
            messages.error(request, f"Refused: {exc.message}")
    return redirect("promotions:index")


@login_required
def receipt_download(request: HttpRequest, pk: Any) -> HttpResponse:
    row = get_object_or_404(
        Receipt.objects.filter(space__in=access.visible_spaces(request.user), direction="out"),
        pk=pk,
    )
    response = HttpResponse(row.token, content_type="application/jose")
    response["Content-Disposition"] = f'attachment; filename="{row.pk}.odcm-receipt"'
    return response


@login_required
def dashboard_rows(request: HttpRequest) -> HttpResponse:
    """The dashboard's promotion rows (loaded by htmx): each visible route's progression
    for its newest release, one row per project; a route whose Octopus cannot be read says
    so in its row."""
    rows = []
    for rt in access.routes(request.user).select_related("space")[: pages.MAX_ROUTES]:
        try:
            stages, error = receipts.progression(rt), ""
        except PromotionError as exc:
            stages, error = [], exc.message
        release = next((s["release"] for s in stages if s.get("release")), "")
        rows.append({"route": rt, "stages": stages, "error": error, "release": release})
    return render(request, "promotions/_dashboard_rows.html", {"rows": rows})
