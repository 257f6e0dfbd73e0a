"""Report API: the dashboard table, deployments per space per day, the version inventory.

Everyone sees only the spaces and instances ``identity.access`` lets them see.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.services import dashboard
from odcm.api.permissions import IsAuthenticatedUser

PARAMS = [
    OpenApiParameter("from", str, description="First day (YYYY-MM-DD), with `to`"),
    OpenApiParameter("to", str, description="Last day (YYYY-MM-DD)"),
    OpenApiParameter("tf", str, description="24h, 7d, 30d, 90d (default 7d) or custom"),
    OpenApiParameter("instance", str, description="Instance slug"),
    OpenApiParameter("region", str),
    OpenApiParameter("status", str),
    OpenApiParameter("tag", str),
]

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
]


def _period_body(period: dashboard.Period) -> dict[str, Any]:
    return {"timeframe": period.key, "from": period.first, "to": period.last}


class SpacesReport(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(parameters=PARAMS, responses=dict, summary="The dashboard table")
    def get(self, request: Request) -> Response:
        period = dashboard.parse_period(request.query_params)
        filters = dashboard.Filters.from_params(request.query_params)
        table = dashboard.space_table(
            request.user, period, filters, str(request.query_params.get("sort") or "space")
        )
        rows = [{key: row[key] for key in SPACE_FIELDS} for row in table.rows]
        return Response(
            {**_period_body(period), "count": len(rows), "totals": table.totals, "results": rows}
        )


class DeploymentsReport(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(parameters=PARAMS, responses=dict, summary="Deployments per space per day")
    def get(self, request: Request) -> Response:
        period = dashboard.parse_period(request.query_params)
        filters = dashboard.Filters.from_params(request.query_params)
        rows = dashboard.deployments_per_space_day(request.user, period, filters)
        return Response({**_period_body(period), "count": len(rows), "results": rows})


class VersionsReport(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(parameters=PARAMS[3:5], responses=dict, summary="Octopus version inventory")
    def get(self, request: Request) -> Response:
        filters = dashboard.Filters.from_params(request.query_params)
        rows = dashboard.version_inventory(request.user, filters)
        return Response({"count": len(rows), "results": rows})
