"""/api/v1/instances, /api/v1/spaces, /api/v1/favourites. Access via identity.access:
what you cannot see is 404; what you see but may not change is 403."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.access import can_manage_instance, is_admin
from odcm.api.permissions import IsAuthenticatedUser
from spaces import services, signals
from spaces.api import serializers as s
from spaces.api.filters import FavouriteFilter, InstanceFilter, SpaceFilter
from spaces.models import Favourite, Instance, Space, StandardEnvironment


class InstanceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Instance],
):
    """Enlisted Octopus instances. Create = enlist (admins); delete = un-enlist (admins;
    nothing changes in Octopus); update name, region, description, tags or the API key."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.InstanceSerializer
    filterset_class = InstanceFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Instance]:
        return (
            Instance.objects.visible_to(self.request.user).prefetch_related("tags").order_by("name")
        )

    def _managed(self) -> Instance:
        instance = self.get_object()
        if not can_manage_instance(self.request.user, instance):
            raise PermissionDenied("You do not manage this instance.")
        return instance

    @extend_schema(request=s.EnlistSerializer, responses={201: s.InstanceSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not is_admin(request.user):
            raise PermissionDenied("Only administrators enlist instances.")
        body = s.EnlistSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        instance = services.enlist_instance(
            name=data["name"],
            base_url=data["url"],
            api_key=data["api_key"],
            region=data["region"],
            description=data["description"],
            tags=data.get("tags", []),
            space_ids=data.get("spaces"),
            actor=request.user,
            request=request,
        )
        return Response(s.InstanceSerializer(instance).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.InstanceUpdateSerializer, responses=s.InstanceSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self._managed()
        body = s.InstanceUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        api_key = data.pop("api_key", None)
        if api_key is not None:
            services.rotate_api_key(instance, api_key, actor=request.user, request=request)
        if data:
            services.update_instance(instance, actor=request.user, request=request, **data)
        return Response(s.InstanceSerializer(self.get_queryset().get(pk=instance.pk)).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        if not is_admin(request.user):
            raise PermissionDenied("Only administrators un-enlist instances.")
        services.unenlist_instance(instance, actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.EnlistManySerializer, responses=s.EnlistOutcomeSerializer(many=True))
    @action(detail=False, methods=["post"], url_path="bulk", filter_backends=[])
    def enlist_many(self, request: Request) -> Response:
        """Administrators: enlist several instances (the rows of a file) in one call. Each is
        enlisted on its own, as a single enlist would be; the answer says, row by row, which
        were enlisted and why the others were not."""
        if not is_admin(request.user):
            raise PermissionDenied("Only administrators enlist instances.")
        body = s.EnlistManySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcomes = []
        for row in body.validated_data["instances"]:
            try:
                instance = services.enlist_instance(
                    name=row["name"],
                    base_url=row["url"],
                    api_key=row["api_key"],
                    region=row["region"],
                    description=row["description"],
                    tags=row.get("tags", []),
                    space_ids=row.get("spaces"),
                    actor=request.user,
                    request=request,
                )
            except services.RegistryError as exc:  # one bad row must not stop the others
                outcomes.append(
                    {"name": row["name"], "enlisted": False, "code": exc.code, "message": str(exc)}
                )
            else:
                data = s.InstanceSerializer(instance).data
                outcomes.append({"name": row["name"], "enlisted": True, "instance": data})
        return Response(outcomes)

    @extend_schema(responses=s.OctopusPeopleSerializer)
    @action(
        detail=True,
        methods=["get"],
        url_path="octopus-people",
        filter_backends=[],
        pagination_class=None,
    )
    def octopus_people(self, request: Request, pk: str | None = None) -> Response:
        """The instance's Octopus users and system teams: the ids a new space's managers
        (``manager_user_ids``, ``manager_team_ids``) are chosen from. Its managers."""
        users, teams = services.octopus_people(self._managed())
        return Response(
            {
                "users": [{"id": i, "label": label} for i, label in users],
                "teams": [{"id": i, "label": label} for i, label in teams],
            }
        )

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str | None = None) -> Response:
        """Re-read the instance's spaces: new ones appear, renamed ones change, deleted ones
        are marked gone."""
        instance = self._managed()
        result = services.refresh_instance(instance, actor=request.user, request=request)
        return Response(result.as_dict())


class SpaceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Space],
):
    """Spaces of visible instances. Create = create a blank space in Octopus and enlist it."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.SpaceSerializer
    filterset_class = SpaceFilter
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> QuerySet[Space]:
        spaces = Space.objects.visible_to(self.request.user).select_related("instance")
        return spaces.order_by("name", "instance__name", "pk")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The same body as the serializer's, rendered from plain values (no model per row)."""
        rows = self.filter_queryset(self.get_queryset()).values(*s.SpaceSerializer.VALUES)
        page = self.paginate_queryset(rows)
        tz = timezone.get_current_timezone()
        data = [s.SpaceSerializer.row(v, tz) for v in (rows if page is None else page)]
        return Response(data) if page is None else self.get_paginated_response(data)

    @extend_schema(request=s.SpaceCreateSerializer, responses={201: s.SpaceSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.SpaceCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        instance = Instance.objects.visible_to(request.user).filter(pk=data["instance"]).first()
        if instance is None:
            raise ValidationError({"instance": "No such instance."})
        if not can_manage_instance(request.user, instance):
            raise PermissionDenied("You do not manage this instance.")
        offered = {o.key for o in signals.setup_options(request.user)}
        if data["setup"] and data["setup"] not in offered:
            raise ValidationError({"setup": "Not a setup offered to you."})
        created = services.create_space(
            instance,
            name=data["name"],
            description=data["description"],
            manager_user_ids=data.get("manager_user_ids", []),
            manager_team_ids=data.get("manager_team_ids", []),
            groups=data.get("manager_groups", []),
            stamp_environments=data["stamp_environments"],
            setup=data["setup"],
            actor=request.user,
            request=request,
        )
        out = dict(s.SpaceSerializer(created.space).data)
        out["warnings"] = created.warnings
        return Response(out, status=status.HTTP_201_CREATED)

    def _set(self, request: Request, enlisted: bool) -> Response:
        space = self.get_object()
        if not can_manage_instance(request.user, space.instance):
            raise PermissionDenied("You do not manage this space's instance.")
        services.set_enlisted(space, enlisted, actor=request.user, request=request)
        return Response(s.SpaceSerializer(space).data)

    @extend_schema(request=None, responses=s.SpaceSerializer)
    @action(detail=True, methods=["post"])
    def enlist(self, request: Request, pk: str | None = None) -> Response:
        """Enlist this space in ODCM (Octopus is not touched)."""
        return self._set(request, True)

    @extend_schema(request=s.SpaceDeleteSerializer, responses={204: None})
    @action(detail=True, methods=["post"], url_path="delete")
    def delete_in_octopus(self, request: Request, pk: str | None = None) -> Response:
        """Administrators: delete the space in Octopus (its task queue is stopped first; the
        default and the last space are refused). The row stays in ODCM, marked gone."""
        space = self.get_object()
        if not is_admin(request.user):
            raise PermissionDenied("Only administrators delete spaces in Octopus.")
        body = s.SpaceDeleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.delete_space(
            space,
            confirm_name=body.validated_data["confirm_name"],
            actor=request.user,
            request=request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=s.SpaceSerializer)
    @action(detail=True, methods=["post"])
    def unenlist(self, request: Request, pk: str | None = None) -> Response:
        """Un-enlist this space in ODCM. Nothing is deleted in Octopus."""
        return self._set(request, False)


class FavouriteViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Favourite],
):
    """Your starred spaces (pinned on top of the switcher). Addressed by the space's id."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.FavouriteSerializer
    filterset_class = FavouriteFilter
    lookup_field = "space"
    lookup_value_converter = "uuid"

    def get_queryset(self) -> QuerySet[Favourite]:
        user = self.request.user
        return (
            Favourite.objects.filter(
                user=user.pk, space__in=Space.objects.visible_to(user).values("pk")
            )
            .select_related("space__instance")
            .order_by("space__name")
        )

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        serializer = super().get_serializer(*args, **kwargs)
        fields = getattr(serializer, "fields", None)
        if fields is not None and "space" in fields:
            fields["space"].queryset = Space.objects.visible_to(self.request.user)
        return serializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        space = body.validated_data["space"]
        services.set_favourite(request.user, space, True)
        row = self.get_queryset().get(space=space)
        return Response(s.FavouriteSerializer(row).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self.get_object()
        services.set_favourite(request.user, row.space, False)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    get=extend_schema(responses=s.StandardEnvironmentsSerializer),
    put=extend_schema(
        request=s.StandardEnvironmentsSerializer, responses=s.StandardEnvironmentsSerializer
    ),
)
class StandardEnvironmentsView(APIView):
    """The environments ODCM stamps into spaces it creates. Administrators change them."""

    permission_classes = [IsAuthenticatedUser]

    def get(self, request: Request) -> Response:
        names = list(StandardEnvironment.objects.values_list("name", flat=True))
        return Response({"names": names})

    def put(self, request: Request) -> Response:
        if not is_admin(request.user):
            raise PermissionDenied("Only administrators change the standard environments.")
        body = s.StandardEnvironmentsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.set_standard_environments(
            body.validated_data["names"], actor=request.user, request=request
        )
        return self.get(request)
