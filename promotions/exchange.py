"""The ODCM-to-ODCM interface: no user signs in here. A pushed bundle or receipt is
authenticated by its own JWS signature against a confirmed trust (the inbox checks
everything before it stores anything); a space's certificate is public by nature and is
served by the space's unguessable id, for the API exchange (confirmed by fingerprint on
each side before any trust is active)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from odcm.api.exceptions import error_body

from .errors import PromotionError
from .models import SpaceIdentity
from .services import inbox, packages, receipts

MAX_DOCUMENT = 64 * 1024 * 1024


def _body(request: HttpRequest) -> str:
    return request.body.decode("ascii", "replace")


@csrf_exempt  # no cookie session here: the document's signature is the authentication
@require_POST
def bundles(request: HttpRequest) -> JsonResponse:
    try:
        bundle, created = inbox.receive(_body(request))
    except PromotionError as exc:
        return JsonResponse(error_body(exc.code or "refused", exc.message), status=400)
    return JsonResponse(
        {"id": str(bundle.pk), "state": bundle.state, "new": created},
        status=201 if created else 200,
    )


@csrf_exempt  # as above: signed receipts authenticate themselves
@require_POST
def receipt(request: HttpRequest) -> JsonResponse:
    try:
        row, created = receipts.receive(_body(request))
    except PromotionError as exc:
        return JsonResponse(error_body(exc.code or "refused", exc.message), status=400)
    return JsonResponse({"id": str(row.pk), "new": created}, status=201 if created else 200)


@require_GET
def identity(request: HttpRequest, space_id: str) -> JsonResponse:
    found = (
        SpaceIdentity.objects.filter(space_id=space_id, state=SpaceIdentity.State.CURRENT)
        .select_related("space")
        .first()
    )
    if found is None:
        return JsonResponse(error_body("not_found", "No such space identity."), status=404)
    return JsonResponse(
        {
            "space_id": str(found.space_id),
            "name": found.space.name,
            "certificate_pem": found.certificate_pem,
            "fingerprint": found.fingerprint,
        }
    )


@require_GET
def package(
    request: HttpRequest, bundle_id: str, name: str
) -> StreamingHttpResponse | JsonResponse:
    """One package of a promoted bundle, for the space it was promoted to (a signed request
    in ``Authorization: Bearer``), streamed from this space's feed."""
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return JsonResponse(
            error_body("refused", "A signed package request is needed."), status=401
        )
    try:
        promotion, pkg = packages.authorize(auth[len("Bearer ") :], str(bundle_id), name)
    except PromotionError as exc:
        return JsonResponse(error_body(exc.code or "refused", exc.message), status=403)
    response = StreamingHttpResponse(
        packages.stream(promotion, pkg), content_type="application/octet-stream"
    )
    response["Content-Length"] = str(int(pkg["size"]))
    response["Content-Disposition"] = (
        f'attachment; filename="{name}{pkg.get("file_extension", ".zip")}"'
    )
    return response
