"""/api/v1/promotions/…: identities, remote spaces, trusts, routes, promotions, the inbox
(review, values, import), progression and compare. Querysets come from promotions.access
(the spaces' visibility rule); what a user may not see is a 404."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from octopus import ErrorKind
from odcm.api.permissions import IsAuthenticatedUser
from odcm.clients import client_for
from spaces.models import Space

from .. import access
from ..errors import PromotionError
from ..models import InboundBundle, Promotion, RemoteSpace, Route, SpaceIdentity, Trust
from ..services import (
    bundles,
    compare,
    identities,
    importing,
    peers,
    receipts,
    routes,
    tenants,
    transfer,
)
from ..services import edits as edit_check
from . import serializers as s


def _managed(request: Request, space: Space) -> Space:
    if not access.can_manage(request.user, space):
        raise PermissionDenied("You do not manage this space.")
    return space


def _space(request: Request, pk: Any) -> Space:
    space = access.visible_spaces(request.user).select_related("instance").filter(pk=pk).first()
    if space is None:
        raise NotFound("No such space.")
    return space


class IdentityViewSet(viewsets.ReadOnlyModelViewSet[SpaceIdentity]):
    """Space identities: certificates and fingerprints (never the private key)."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.SpaceIdentitySerializer

    def get_queryset(self) -> QuerySet[SpaceIdentity]:
        return access.identities(self.request.user).order_by("space__name", "-created_at")

    @extend_schema(request=s.IdentityGenerateSerializer, responses={201: s.SpaceIdentitySerializer})
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def generate(self, request: Request) -> Response:
        """Generate a new identity for a space (the previous one is retired)."""
        body = s.IdentityGenerateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        space = _managed(request, _space(request, body.validated_data["space"]))
        made = identities.generate(space, actor=request.user)
        return Response(s.SpaceIdentitySerializer(made).data, status=status.HTTP_201_CREATED)


class RemoteViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[RemoteSpace],
):
    """Remote spaces (other ODCMs' spaces, or this ODCM's), known by certificate."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.RemoteSpaceSerializer

    def get_queryset(self) -> QuerySet[RemoteSpace]:
        return RemoteSpace.objects.prefetch_related("certificates").order_by("name")

    @extend_schema(request=s.RemoteSpaceCreateSerializer, responses={201: s.RemoteSpaceSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not access.can_manage_remotes(request.user):
            raise PermissionDenied("Only administrators add remote spaces.")
        body = s.RemoteSpaceCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        remote = peers.add_remote(
            body.validated_data["name"],
            certificate=body.validated_data["certificate"],
            url=body.validated_data["url"],
            remote_id=body.validated_data["remote_id"],
            actor=request.user,
        )
        return Response(s.RemoteSpaceSerializer(remote).data, status=status.HTTP_201_CREATED)


class TrustViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Trust],
):
    """What a space accepts from a remote space; active after fingerprint confirmation."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.PromotionTrustSerializer

    def get_queryset(self) -> QuerySet[Trust]:
        return access.trusts(self.request.user).order_by("space__name", "remote__name", "pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.PromotionTrustSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        space = _managed(request, _space(request, body.validated_data["space_id"]))
        remote = RemoteSpace.objects.filter(pk=body.validated_data["remote_id"]).first()
        if remote is None:
            raise NotFound("No such remote space.")
        trust = peers.propose(space, remote, body.validated_data["accepts"], actor=request.user)
        return Response(s.PromotionTrustSerializer(trust).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TrustConfirmSerializer, responses=s.PromotionTrustSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        """Activate the trust with the fingerprint read out by the other side."""
        trust = self.get_object()
        _managed(request, trust.space)
        body = s.TrustConfirmSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        confirmed = peers.confirm(trust, body.validated_data["fingerprint"], actor=request.user)
        return Response(s.PromotionTrustSerializer(confirmed).data)

    @extend_schema(request=None, responses=s.PromotionTrustSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        trust = self.get_object()
        _managed(request, trust.space)
        peers.revoke(trust, actor=request.user)
        return Response(s.PromotionTrustSerializer(trust).data)


def _stage_inputs(rows: list[dict[str, Any]]) -> list[routes.StageInput]:
    found = {
        str(r.pk): r
        for r in RemoteSpace.objects.filter(
            pk__in=[row["target_id"] for row in rows if row.get("target_id")]
        )
    }
    unknown = {
        f"stages[{n}].target": ["No such remote space."]
        for n, row in enumerate(rows, 1)
        if row.get("target_id") and str(row["target_id"]) not in found
    }
    if unknown:
        raise PromotionError("The route was not saved: No such remote space.", errors=unknown)
    return [
        routes.StageInput(
            position=row["position"],
            environment=row.get("environment") or "",
            target=found.get(str(row.get("target_id"))) if row.get("target_id") else None,
            lifecycle=row.get("lifecycle") or "",
        )
        for row in rows
    ]


class RouteViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.ReadOnlyModelViewSet[Route],
):
    """Routes (composite lifecycles): create, replace the stages, delete; the progression of
    a release along them; the values held for their remote environments. Writes need a
    manager of the route's space; every stage is checked against Octopus and the trusts."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.PromotionRouteSerializer

    def get_queryset(self) -> QuerySet[Route]:
        return (
            access.routes(self.request.user)
            .select_related("space__instance")
            .prefetch_related("stages__target")
            .order_by("space__name", "project_name", "pk")
        )

    @extend_schema(request=s.RouteWriteSerializer, responses={201: s.PromotionRouteSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.RouteWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        missing = {k: ["This field is required."] for k in ("space", "project_id") if k not in data}
        if missing:
            raise ValidationError(missing)
        space = _managed(request, _space(request, data["space"]))
        if Route.objects.filter(space=space, project_id=data["project_id"]).exists():
            raise PromotionError(
                "This project has a route already; change it with PUT on the route.",
                code="conflict",
                kind=ErrorKind.CONFLICT,
            )
        route = routes.save_route(
            space, data["project_id"], _stage_inputs(data["stages"]), actor=request.user
        )
        return Response(s.PromotionRouteSerializer(route).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RouteWriteSerializer, responses=s.PromotionRouteSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        route = self.get_object()
        _managed(request, route.space)
        body = s.RouteWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        route = routes.save_route(
            route.space,
            route.project_id,
            _stage_inputs(body.validated_data["stages"]),
            actor=request.user,
        )
        return Response(s.PromotionRouteSerializer(route).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        route = self.get_object()
        _managed(request, route.space)
        routes.delete_route(route, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def progression(self, request: Request, pk: str | None = None) -> Response:
        route = self.get_object()
        version = request.query_params.get("release") or None
        return Response({"stages": receipts.progression(route, version)})

    @extend_schema(methods=["GET"], request=None, responses=s.RemoteValueSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=s.RemoteValueSerializer, responses=s.RemoteValueSerializer
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def values(self, request: Request, pk: str | None = None) -> Response:
        """The values held for the route's remote environments (sensitive ones never shown),
        or set one (POST; the same target, environment and name replace it)."""
        route = self.get_object()
        if request.method == "GET":
            return Response(s.RemoteValueSerializer(routes.held_values(route), many=True).data)
        _managed(request, route.space)
        body = s.RemoteValueSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        target = route.stages.filter(target_id=data["environment"]["remote_id"]).first()
        if target is None or target.target is None:
            raise PromotionError(
                "That remote space is not a target of this route.",
                errors={"target": ["Not a target space of this route."]},
            )
        row = routes.set_value(
            route,
            target.target,
            data["environment"]["name"],
            data["name"],
            data.get("value"),
            sensitive=data["sensitive"],
            actor=request.user,
        )
        return Response(s.RemoteValueSerializer(row).data)

    @extend_schema(
        request=None,
        responses={204: None},
        parameters=[
            OpenApiParameter(
                "value_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="A held value."
            )
        ],
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"values/(?P<value_id>[^/.]+)",
        url_name="value-delete",
    )
    def value_delete(self, request: Request, pk: str | None = None, value_id: str = "") -> Response:
        route = self.get_object()
        _managed(request, route.space)
        if not value_id.isdigit() or len(value_id) > 18:
            raise NotFound("No such value on this route.")
        if not route.remote_environments.filter(values__pk=int(value_id)).exists():
            raise NotFound("No such value on this route.")
        routes.delete_value(route, int(value_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PromotionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Promotion],
):
    """Promote: build and sign a bundle for a target space, and send it (or keep it for
    download when the target is air-gapped)."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.PromotionSerializer

    def get_queryset(self) -> QuerySet[Promotion]:
        return access.promotions(self.request.user).order_by("-created_at", "pk")

    @extend_schema(request=s.PromoteSerializer, responses={201: s.PromotionSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.PromoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        route = access.routes(request.user).filter(pk=body.validated_data["route"]).first()
        target = RemoteSpace.objects.filter(pk=body.validated_data["target"]).first()
        if route is None or target is None:
            raise NotFound("No such route or target.")
        _managed(request, route.space)
        promotion = bundles.build(
            route.space, route, body.validated_data["release"], target, actor=request.user
        )
        promotion = transfer.promote(promotion, actor=request.user)
        return Response(s.PromotionSerializer(promotion).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def bundle(self, request: Request, pk: str | None = None) -> Response:
        """The signed bundle (JWS compact) for an air-gapped transfer."""
        promotion = self.get_object()
        return Response({"id": str(promotion.pk), "bundle": promotion.token})


class InboxViewSet(viewsets.ReadOnlyModelViewSet[InboundBundle]):
    """Bundles received by the spaces you can see: review, supply values, import."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.InboundBundleSerializer

    def get_queryset(self) -> QuerySet[InboundBundle]:
        return access.inbox(self.request.user).order_by("-received_at", "pk")

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def review(self, request: Request, pk: str | None = None) -> Response:
        bundle = self.get_object()
        with client_for(bundle.space.instance) as client:
            return Response(importing.review(bundle, client))

    @extend_schema(responses=s.InboundBundleSerializer)
    @action(detail=True, methods=["get"])
    def edits(self, request: Request, pk: str | None = None) -> Response:
        """Check the imported project in Octopus now: edits to its process or variables
        (what built the release) since the import; values for this space's environments
        and tenants are not edits."""
        bundle = self.get_object()
        if bundle.state != InboundBundle.State.IMPORTED or not bundle.imported_project_id:
            raise NotFound("This bundle has not been imported yet.")
        edit_check.check_bundle(bundle)
        return Response(s.InboundBundleSerializer(bundle).data)

    @extend_schema(request=s.SuppliedValueSerializer, responses={200: dict})
    @action(detail=True, methods=["post"])
    def supply(self, request: Request, pk: str | None = None) -> Response:
        """Enter a value the release needs in this space (sensitive ones sealed)."""
        bundle = self.get_object()
        _managed(request, bundle.space)
        body = s.SuppliedValueSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data["tenant"]:
            tenants.supply(
                bundle,
                data["tenant"],
                data["environment"],
                data["name"],
                data["value"],
                actor=request.user,
            )
            with client_for(bundle.space.instance) as client:
                return Response({"needed": importing.review(bundle, client)["needed"]})
        importing.supply(
            bundle,
            data["name"],
            data["environment"],
            data["value"],
            sensitive=data["sensitive"],
            actor=request.user,
        )
        return Response({"needed": importing.needed(bundle)})

    @extend_schema(request=s.BundleImportSerializer, responses=s.InboundBundleSerializer)
    @action(detail=True, methods=["post"], url_path="import", url_name="import")
    def import_(self, request: Request, pk: str | None = None) -> Response:
        bundle = self.get_object()
        _managed(request, bundle.space)
        body = s.BundleImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        lifecycle = body.validated_data["lifecycle"]
        if body.validated_data["background"]:
            importing.queue_import(bundle, lifecycle_id=lifecycle, actor=request.user)
            return Response(s.InboundBundleSerializer(bundle).data, status=202)
        done = importing.import_bundle(
            bundle, importing.source_for(bundle), lifecycle_id=lifecycle, actor=request.user
        )
        return Response(s.InboundBundleSerializer(done).data)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def compare(self, request: Request, pk: str | None = None) -> Response:
        """The imported release beside its source (when the source is in this ODCM) or
        beside another release of this space (``?release=``)."""
        bundle = self.get_object()
        if not bundle.imported_release_id:
            raise NotFound("This bundle has not been imported yet.")
        other = request.query_params.get("release")
        source = bundle.source.local_space
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
            raise NotFound("Name the release to compare with (?release=Releases-…).")
        return Response(result)
