"""Figures for the dashboard, its CSV and the report API: rollups only, a fixed number of
queries whatever the number of spaces, and only what ``identity.access`` lets a user see.

Timeframes are whole UTC days (the rollups are daily): "7 d" is from the day 7×24 hours
ago up to and including today. Failed counts include timed-out deployments; the success
rate is succeeded ÷ (succeeded + failed), cancellations left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from identity import access
from monitoring.models import SpaceDay, StatusFlip
from spaces.models import Instance, Space, Tag

TIMEFRAMES: dict[str, tuple[str, int]] = {
    "24h": ("24 h", 1),
    "7d": ("7 d", 7),
    "30d": ("30 d", 30),
    "90d": ("90 d", 90),
}
DEFAULT_TIMEFRAME = "7d"
MAX_CUSTOM_DAYS = 400
SORTS = {
    "space": "name",
    "instance": "instance",
    "region": "region",
    "version": "version",
    "status": "status",
    "projects": "projects",
    "targets": "targets",
    "succeeded": "succeeded",
    "failed": "failed",
    "rate": "rate",
}


@dataclass(frozen=True)
class Period:
    key: str
    first: date
    last: date

    @property
    def label(self) -> str:
        if self.key in TIMEFRAMES:
            return TIMEFRAMES[self.key][0]
        return f"{self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}"

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime(self.last.year, self.last.month, self.last.day, tzinfo=UTC) + timedelta(
            days=1
        )

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def today() -> date:
    return timezone.now().astimezone(UTC).date()


def period_for_days(days: int) -> Period:
    now = timezone.now().astimezone(UTC)
    return Period(f"{days}d", (now - timedelta(days=days)).date(), now.date())


def _parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def parse_period(params: Mapping[str, Any]) -> Period:
    """``tf`` = 24h|7d|30d|90d|custom; ``from``/``to`` (YYYY-MM-DD) for custom (or alone)."""
    key = str(params.get("tf") or "")
    first, last = _parse_date(params.get("from")), _parse_date(params.get("to"))
    if key == "custom" or (key not in TIMEFRAMES and (first or last)):
        last = last or today()
        first = first or last - timedelta(days=6)
        if first > last:
            first, last = last, first
        first = max(first, last - timedelta(days=MAX_CUSTOM_DAYS))
        return Period("custom", first, last)
    key = key if key in TIMEFRAMES else DEFAULT_TIMEFRAME
    period = period_for_days(TIMEFRAMES[key][1])
    return Period(key, period.first, period.last)


@dataclass(frozen=True)
class Filters:
    instance: str = ""
    region: str = ""
    status: str = ""
    tag: str = ""
    space: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Filters:
        def get(name: str) -> str:
            return str(params.get(name) or "").strip()[:200]

        return cls(get("instance"), get("region"), get("status"), get("tag"), get("space"))

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def spaces_for(user: Any, filters: Filters) -> QuerySet[Space]:
    qs = access.visible_spaces(user).filter(state=Space.State.ENLISTED)
    if filters.instance:
        qs = qs.filter(instance__slug=filters.instance)
    if filters.region:
        qs = qs.filter(instance__region=filters.region)
    if filters.status:
        qs = qs.filter(instance__status=filters.status)
    if filters.tag:
        qs = qs.filter(instance__tags__name=filters.tag)
    if filters.space:
        qs = qs.filter(slug=filters.space)
    return qs


def _dicts(rows: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in rows]


def _rate(succeeded: int, failed: int) -> float | None:
    total = succeeded + failed
    return round(100.0 * succeeded / total, 1) if total else None


@dataclass
class Table:
    rows: list[dict[str, Any]]
    totals: dict[str, Any] = field(default_factory=dict)


def space_table(user: Any, period: Period, filters: Filters, sort: str = "space") -> Table:
    """One row per visible, enlisted space with its figures for ``period`` (two queries)."""
    spaces = spaces_for(user, filters)
    rows = _dicts(
        spaces.values(
            "id",
            "name",
            "slug",
            "octopus_id",
            "project_count",
            "target_count",
            "unhealthy_target_count",
            "environment_count",
            "tenant_count",
            instance_name=F("instance__name"),
            instance_slug=F("instance__slug"),
            base_url=F("instance__base_url"),
            region=F("instance__region"),
            version=F("instance__version"),
            status=F("instance__status"),
            status_since=F("instance__status_since"),
            pinned_version=F("instance__monitor__pinned_version"),
        ).distinct()
    )
    sums = {
        r["space_id"]: r
        for r in SpaceDay.objects.filter(
            space_id__in=spaces.values("pk"), day__gte=period.first, day__lte=period.last
        )
        .values("space_id")
        .annotate(
            ok=Sum("succeeded"),
            bad=Sum("failed"),
            timed=Sum("timed_out"),
            canceled=Sum("canceled"),
            duration=Sum("total_duration_seconds"),
        )
    }
    totals: dict[str, Any] = {"spaces": len(rows), "projects": 0, "targets": 0, "unhealthy": 0}
    totals.update(succeeded=0, failed=0, canceled=0)
    for row in rows:
        figures: dict[str, Any] = dict(sums.get(row["id"]) or {})
        row["succeeded"] = int(figures.get("ok") or 0)
        row["failed"] = int(figures.get("bad") or 0) + int(figures.get("timed") or 0)
        row["canceled"] = int(figures.get("canceled") or 0)
        row["rate"] = _rate(row["succeeded"], row["failed"])
        row["pin_mismatch"] = (
            bool(row["pinned_version"]) and row["version"] != row["pinned_version"]
        )
        totals["projects"] += row["project_count"] or 0
        totals["targets"] += row["target_count"] or 0
        totals["unhealthy"] += row["unhealthy_target_count"] or 0
        for key in ("succeeded", "failed", "canceled"):
            totals[key] += row[key]
    totals["rate"] = _rate(totals["succeeded"], totals["failed"])
    _sort(rows, sort)
    return Table(rows, totals)


def _sort(rows: list[dict[str, Any]], sort: str) -> None:
    descending = sort.startswith("-")
    key = SORTS.get(sort.lstrip("-"), "name")
    column = {
        "instance": "instance_name",
        "projects": "project_count",
        "targets": "target_count",
    }.get(key, key)

    def sort_key(row: dict[str, Any]) -> tuple[bool, Any, str]:
        value = row.get(column)
        if isinstance(value, str):
            value = value.lower()
        return (value is None, value if value is not None else 0, row["name"].lower())

    rows.sort(key=sort_key, reverse=descending)
    if descending:  # keep empty values last either way
        rows.sort(key=lambda r: r.get(column) is None)


def filter_choices(user: Any) -> dict[str, Any]:
    instances = access.visible_instances(user)
    return {
        "instances": list(instances.order_by("name").values("name", "slug", "region")),
        "regions": sorted({i["region"] for i in instances.values("region") if i["region"]}),
        "tags": list(
            Tag.objects.filter(instances__in=instances.values("pk"))
            .distinct()
            .order_by("name")
            .values_list("name", flat=True)
        ),
        "statuses": Instance.Status.choices,
        "timeframes": [(k, v[0]) for k, v in TIMEFRAMES.items()],
    }


def deployments_by_day(user: Any, period: Period, filters: Filters) -> list[dict[str, Any]]:
    """Totals per day over the filtered spaces, every day of the period present."""
    spaces = spaces_for(user, filters)
    found = {
        r["day"]: r
        for r in SpaceDay.objects.filter(
            space_id__in=spaces.values("pk"), day__gte=period.first, day__lte=period.last
        )
        .values("day")
        .annotate(ok=Sum("succeeded"), bad=Sum("failed"), timed=Sum("timed_out"))
    }
    out = []
    for day in period.days:
        r: dict[str, Any] = dict(found.get(day) or {})
        out.append(
            {
                "day": day,
                "succeeded": int(r.get("ok") or 0),
                "failed": int(r.get("bad") or 0) + int(r.get("timed") or 0),
            }
        )
    return out


def deployments_per_space_day(user: Any, period: Period, filters: Filters) -> list[dict[str, Any]]:
    spaces = spaces_for(user, filters)
    return _dicts(
        SpaceDay.objects.filter(
            space_id__in=spaces.values("pk"), day__gte=period.first, day__lte=period.last
        )
        .order_by("space__instance__name", "space__name", "day")
        .values(
            "day",
            "succeeded",
            "failed",
            "canceled",
            "timed_out",
            "total_duration_seconds",
            space_slug=F("space__slug"),
            space_octopus_id=F("space__octopus_id"),
            space_name=F("space__name"),
            instance=F("space__instance__slug"),
        )
    )


def version_inventory(user: Any, filters: Filters | None = None) -> list[dict[str, Any]]:
    instances = access.visible_instances(user)
    if filters and filters.region:
        instances = instances.filter(region=filters.region)
    if filters and filters.instance:
        instances = instances.filter(slug=filters.instance)
    return _dicts(
        Instance.objects.filter(pk__in=instances.values("pk"))
        .values("version")
        .annotate(
            instances=Count("pk"),
            pin_mismatches=Count(
                "pk",
                filter=~Q(monitor__pinned_version="")
                & Q(monitor__pinned_version__isnull=False)
                & ~Q(monitor__pinned_version=F("version")),
            ),
        )
        .order_by("-instances", "version")
    )


def status_timelines(
    user: Any, period: Period, filters: Filters, limit: int = 100
) -> list[dict[str, Any]]:
    """Per instance, the status segments over the period, built from its flips."""
    instance_ids = spaces_for(user, filters).values("instance_id")
    instances = list(
        Instance.objects.filter(pk__in=instance_ids)
        .order_by("name")
        .values("pk", "name", "slug", "status")[:limit]
    )
    ids = [i["pk"] for i in instances]
    start, end = period.start, min(period.end, timezone.now())
    before = {
        f.instance_id: f.to_status
        for f in StatusFlip.objects.filter(instance_id__in=ids, at__lt=start)
        .order_by("instance_id", "-at", "-id")
        .distinct("instance_id")
    }
    flips: dict[Any, list[StatusFlip]] = {}
    for f in StatusFlip.objects.filter(instance_id__in=ids, at__gte=start, at__lt=end).order_by(
        "at", "id"
    ):
        flips.setdefault(f.instance_id, []).append(f)
    span = max((end - start).total_seconds(), 1.0)
    out = []
    for inst in instances:
        own = flips.get(inst["pk"], [])
        status = before.get(inst["pk"]) or (own[0].from_status if own else inst["status"])
        cursor = start
        segments = []
        for flip in [*own, None]:
            until = flip.at if flip is not None else end
            if until > cursor:
                segments.append(
                    {
                        "status": status,
                        "x": round(100 * (cursor - start).total_seconds() / span, 3),
                        "width": round(100 * (until - cursor).total_seconds() / span, 3),
                        "from": cursor,
                        "to": until,
                    }
                )
            if flip is not None:
                status, cursor = flip.to_status, max(cursor, flip.at)
        out.append({**inst, "segments": segments})
    return out
