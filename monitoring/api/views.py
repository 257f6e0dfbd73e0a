"""Report API: the dashboard table, deployments per space per day, the version inventory.

Everyone sees only the spaces and instances ``identity.access`` lets them see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.api.filters import StatusFlipFilter
from monitoring.models import StatusFlip
from monitoring.services import dashboard
from monitoring.services.dashboard import EARLIEST_DATE, LATEST_DATE
from monitoring.services.stamp import data_stamp
from odcm.api.pagination import Pagination
from odcm.api.permissions import IsAuthenticatedUser
from spaces.models import Instance


class ReportQuerySerializer(serializers.Serializer[Any]):
    """The reports' parameters: a bad value is a 400 naming it (pages fall back instead)."""

    tf = serializers.ChoiceField(
        [*dashboard.TIMEFRAMES, "custom"], required=False, help_text="Default 7d"
    )
    to = serializers.DateField(required=False, help_text="Last day (YYYY-MM-DD)")
    instance = serializers.CharField(required=False, max_length=200, help_text="Instance slug")
    region = serializers.CharField(required=False, max_length=200)
    status = serializers.ChoiceField(Instance.Status.choices, required=False)
    tag = serializers.CharField(required=False, max_length=200)
    space = serializers.CharField(required=False, max_length=200, help_text="Space slug")
    problem = serializers.ChoiceField(
        list(dashboard.PROBLEMS), required=False, help_text="queue: a queue waits too long"
    )
    sort = serializers.CharField(required=False, max_length=50)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in ("from", "to"):
            day = attrs.get(name)
            if day is not None and not EARLIEST_DATE <= day <= LATEST_DATE:
                raise serializers.ValidationError({name: [f"Give a day from {EARLIEST_DATE}."]})
        return attrs


# ``from`` is a Python keyword: added to the declared fields by name.
ReportQuerySerializer._declared_fields["from"] = serializers.DateField(
    required=False, help_text="First day (YYYY-MM-DD), with `to`"
)


def _validated(request: Request, serializer: type[serializers.Serializer[Any]]) -> None:
    serializer(data=request.query_params).is_valid(raise_exception=True)


SPACE_FIELDS = [
    "octopus_id",
    "name",
    "slug",
    "instance_name",
    "instance_slug",
    "region",
    "version",
    "pinned_version",
    "pin_mismatch",
    "status",
    "status_since",
    "project_count",
    "target_count",
    "unhealthy_target_count",
    "environment_count",
    "tenant_count",
    "succeeded",
    "failed",
    "canceled",
    "rate",
    "queued",
    "executing",
    "oldest_queued_at",
    "queue_waiting",
]


def _period_body(period: dashboard.Period) -> dict[str, Any]:
    return {"timeframe": period.key, "from": period.first, "to": period.last}


def _paginated(request: Request, view: APIView, rows: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """The project's page-number pagination (``page``, ``page_size`` up to 500) plus the
    report's period and totals, which always cover every row, not just this page."""
    paginator = Pagination()
    page: Any = paginator.paginate_queryset(rows, request, view=view)
    return {**extra, **paginator.get_paginated_response(page).data}


class _CheaplyCounted:
    """A queryset for the paginator whose ``count()`` runs a cheaper query with the same
    answer: counting the report's rows through its joins (there for the names it shows and
    its order) cost more than the page itself."""

    def __init__(self, rows: QuerySet[Any], count: Callable[[], int]) -> None:
        self.rows, self._count = rows, count

    def count(self) -> int:
        return self._count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key: Any) -> Any:
        return self.rows[key]


class SpacesReport(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        parameters=[ReportQuerySerializer], responses=dict, summary="The dashboard table"
    )
    def get(self, request: Request) -> Response:
        _validated(request, ReportQuerySerializer)
        period = dashboard.parse_period(request.query_params)
        filters = dashboard.Filters.from_params(request.query_params)
        sort = str(request.query_params.get("sort") or "space")
        page = (request.query_params.get("page"), request.query_params.get("page_size"))

        def compute() -> dict[str, Any]:
            rows = dashboard.space_rows(request.user, period, filters, sort)
            totals = dashboard.space_totals(request.user, period, filters, by_day=False)
            data = _paginated(request, self, rows, {**_period_body(period), "totals": totals})
            data["results"] = [
                {key: row[key] for key in SPACE_FIELDS}
                for row in map(dashboard.finisher(), data["results"])
            ]
            return data

        stamp = data_stamp()
        key = ("api-spaces", period, filters, sort, page)
        return Response(dashboard.cached(request.user, stamp, key, compute))


class DeploymentsReport(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        parameters=[ReportQuerySerializer], responses=dict, summary="Deployments per space per day"
    )
    def get(self, request: Request) -> Response:
        _validated(request, ReportQuerySerializer)
        period = dashboard.parse_period(request.query_params)
        filters = dashboard.Filters.from_params(request.query_params)
        page = (request.query_params.get("page"), request.query_params.get("page_size"))

        def compute() -> dict[str, Any]:
            rows = dashboard.deployments_per_space_day(request.user, period, filters)
            counted = _CheaplyCounted(
                rows, dashboard.deployments_per_space_day_count(request.user, period, filters)
            )
            return _paginated(request, self, counted, _period_body(period))

        key = ("api-deployments", period, filters, page)
        return Response(dashboard.cached(request.user, data_stamp(), key, compute))


class VersionsReport(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        parameters=[ReportQuerySerializer], responses=dict, summary="Octopus version inventory"
    )
    def get(self, request: Request) -> Response:
        _validated(request, ReportQuerySerializer)
        filters = dashboard.Filters.from_params(request.query_params)
        rows = dashboard.version_inventory(request.user, filters)
        return Response({"count": len(rows), "results": rows})


class StatusFlipSerializer(serializers.ModelSerializer[StatusFlip]):
    class Meta:
        model = StatusFlip
        fields = ["from_status", "to_status", "at", "reason", "last_error"]
        read_only_fields = fields


class StatusHistory(ListAPIView[StatusFlip]):
    """An instance's status changes, newest first (``since``/``until`` narrow the period)."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = StatusFlipSerializer
    filterset_class = StatusFlipFilter

    def get_queryset(self) -> QuerySet[StatusFlip]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, with no id
            return StatusFlip.objects.none()
        instance = get_object_or_404(
            Instance.objects.visible_to(self.request.user), pk=self.kwargs["instance_id"]
        )
        return StatusFlip.objects.filter(instance=instance).order_by("-at", "-id")
