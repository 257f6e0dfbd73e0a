"""Figures for the dashboard, its CSV and the report API: rollups only, a fixed number of
queries whatever the number of spaces, and only what ``identity.access`` lets a user see.

Timeframes are whole UTC days (the rollups are daily): "7 d" is from the day 7×24 hours
ago up to and including today. Failed counts include timed-out deployments; the success
rate is succeeded ÷ (succeeded + failed), cancellations left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Cast, Lower, NullIf
from django.utils import timezone

from monitoring import version_rules
from monitoring.models import SpaceDay, StatusFlip
from monitoring.services import queues, windows
from spaces.models import Instance, Space, Tag

T = TypeVar("T")
TIMEFRAMES: dict[str, tuple[str, int]] = {
    "24h": ("24 h", 1),
    "7d": ("7 d", 7),
    "30d": ("30 d", 30),
    "90d": ("90 d", 90),
}
DEFAULT_TIMEFRAME = "7d"
MAX_CUSTOM_DAYS = 400


@dataclass(frozen=True)
class Period:
    key: str
    first: date
    last: date
    # A custom timeframe asked for without its dates: the page says which dates it used.
    incomplete: bool = False

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


def cached(user: Any, stamp: str, parts: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """Per-user cache of dashboard figures for ``ODCM_DASHBOARD_CACHE_SECONDS`` (0 = off),
    keyed by the data stamp: a finished sweep or pull shows at once."""
    seconds = settings.ODCM_DASHBOARD_CACHE_SECONDS
    if not seconds:
        return compute()
    key = _key(user, stamp, parts)
    hit = cache.get(key)
    if hit is not None:
        return cast(T, hit)
    value = compute()
    cache.set(key, value, seconds)
    return value


def cached_already(user: Any, stamp: str, parts: tuple[Any, ...]) -> Any | None:
    """What :func:`cached` holds for these arguments, computing nothing: None if nothing (or
    the cache is off)."""
    if not settings.ODCM_DASHBOARD_CACHE_SECONDS:
        return None
    return cache.get(_key(user, stamp, parts))


def _key(user: Any, stamp: str, parts: tuple[Any, ...]) -> str:
    digest = hashlib.sha256(repr((viewer(user), stamp, parts)).encode()).hexdigest()
    return f"monitoring:dashboard:{digest}"


def viewer(user: Any) -> tuple[Any, Any]:
    """Whose view cached figures are: the user's, narrowed by the API token they act through
    when it is limited to some instances or spaces (``identity.access``). Two tokens of one
    person must not share figures: the limited one would see what only the other may. A
    token's limits are fixed when it is made, so its id names them."""
    token = getattr(user, "odcm_token", None)
    limited = token is not None and bool(getattr(token, "limited", False))
    return getattr(user, "pk", None), (getattr(token, "pk", None) if limited else None)


def today() -> date:
    return timezone.now().astimezone(UTC).date()


def period_for_days(days: int) -> Period:
    now = timezone.now().astimezone(UTC)
    return Period(f"{days}d", (now - timedelta(days=days)).date(), now.date())


# Dates a period may name: the arithmetic around them (a day before, the day after) must not
# leave Python's date range, and nothing ODCM records is older than this.
EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(2999, 12, 31)


def _parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        parsed = date.fromisoformat(str(text).strip()[:10])
    except ValueError:
        return None
    return parsed if EARLIEST_DATE <= parsed <= LATEST_DATE else None


def parse_period(params: Mapping[str, Any]) -> Period:
    """``tf`` = 24h|7d|30d|90d|custom; ``from``/``to`` (YYYY-MM-DD) for custom (or alone)."""
    key = str(params.get("tf") or "")
    first, last = _parse_date(params.get("from")), _parse_date(params.get("to"))
    if key == "custom" or (key not in TIMEFRAMES and (first or last)):
        incomplete = not (first and last)
        last = last or today()
        first = first or last - timedelta(days=6)
        if first > last:
            first, last = last, first
        first = max(first, last - timedelta(days=MAX_CUSTOM_DAYS))
        return Period("custom", first, last, incomplete)
    key = key if key in TIMEFRAMES else DEFAULT_TIMEFRAME
    period = period_for_days(TIMEFRAMES[key][1])
    return Period(key, period.first, period.last)


PROBLEMS = {"queue": "Queue waiting"}


@dataclass(frozen=True)
class Filters:
    instance: str = ""
    region: str = ""
    status: str = ""
    tag: str = ""
    space: str = ""
    # "queue": only spaces whose oldest queued Octopus task waits too long (see queues).
    problem: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Filters:
        def get(name: str) -> str:
            # PostgreSQL refuses NUL in text: such a value can match nothing anyway.
            return str(params.get(name) or "").replace("\x00", "").strip()[:200]

        problem = get("problem")
        return cls(
            get("instance"),
            get("region"),
            get("status"),
            get("tag"),
            get("space"),
            problem if problem in PROBLEMS else "",
        )

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    @property
    def active(self) -> bool:
        return any(self.__dict__.values())


def spaces_for(user: Any, filters: Filters) -> QuerySet[Space]:
    qs = Space.objects.visible_to(user).filter(state=Space.State.ENLISTED)
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
    if filters.problem == "queue":
        limit = queues.threshold() or timedelta(0)
        qs = qs.filter(queue__oldest_queued_at__lt=timezone.now() - limit)
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
    page: int = 1
    pages: int = 1


ROW_FIELDS = (
    "id",
    "name",
    "slug",
    "octopus_id",
    "project_count",
    "target_count",
    "unhealthy_target_count",
    "environment_count",
    "tenant_count",
    "instance_id",
    "instance_name",
    "instance_slug",
    "region",
    "version",
    "status",
    "status_since",
    "pinned_version",
    "queued",
    "executing",
    "oldest_queued_at",
    "succeeded",
    "failed",
    "canceled",
    "rate",
)
ORDERING: dict[str, Any] = {
    "space": Lower("name"),
    "instance": Lower("instance__name"),
    "region": Lower("instance__region"),
    "version": F("instance__version"),
    "status": F("instance__status"),
    "projects": F("project_count"),
    "targets": F("target_count"),
    "succeeded": F("succeeded"),
    "failed": F("failed"),
    "rate": F("rate"),
}


def space_rows(user: Any, period: Period, filters: Filters, sort: str = "space") -> QuerySet[Any]:
    """Visible, enlisted spaces with their figures for ``period``, sorted in SQL: one query,
    which callers slice (a page) or iterate (CSV)."""
    base = Space.objects.filter(pk__in=spaces_for(user, filters).values("pk"))
    descending = sort.startswith("-")
    order = ORDERING.get(sort.lstrip("-"), ORDERING["space"])
    order = order.desc(nulls_last=True) if descending else order.asc(nulls_last=True)
    return (
        base.annotate(**windows.figures(period.first, period.last))
        .annotate(
            rate=ExpressionWrapper(
                Cast(F("succeeded"), FloatField())
                * 100.0
                / NullIf(F("succeeded") + F("failed"), 0),
                output_field=FloatField(),
            ),
            instance_name=F("instance__name"),
            instance_slug=F("instance__slug"),
            region=F("instance__region"),
            version=F("instance__version"),
            status=F("instance__status"),
            status_since=F("instance__status_since"),
            pinned_version=F("instance__monitor__pinned_version"),
            queued=F("queue__queued"),
            executing=F("queue__executing"),
            oldest_queued_at=F("queue__oldest_queued_at"),
        )
        .order_by(order, Lower("name"), "pk")
        .values(*ROW_FIELDS)
    )


def finisher(
    lists: Mapping[Any, version_rules.Allowed] | None = None,
) -> Callable[[Any], dict[str, Any]]:
    """``finish_row`` with the pipeline stages' allowed versions (``lists``, read here unless
    given) read once for all rows."""
    lists = version_rules.rules() if lists is None else lists
    limit, now = queues.threshold(), timezone.now()
    return lambda row: finish_row(row, lists, limit=limit, now=now)


def finish_row(
    row: Any,
    lists: Mapping[Any, version_rules.Allowed],
    *,
    limit: timedelta | None,
    now: datetime,
) -> dict[str, Any]:
    """A space row for people: queue waiting (the oldest queued task older than ``limit``,
    the queue threshold, at ``now``), rate, and whether its instance runs a version other than
    its pin (or, in a pipeline stage with allowed versions, outside that list)."""
    out = dict(row)
    since = out.get("oldest_queued_at")
    out["queue_waiting"] = bool(limit and since and now - since > limit)
    out["rate"] = None if out["rate"] is None else round(out["rate"], 1)
    allowed = lists.get(out["instance_id"])
    out["pin_mismatch"] = version_rules.off(
        out["version"] or "", out["pinned_version"] or "", allowed
    )
    out["expected_version"] = version_rules.expected(out["pinned_version"] or "", allowed)
    return out


def space_totals(
    user: Any, period: Period, filters: Filters, *, by_day: bool = True
) -> dict[str, Any]:
    """The totals row over every matching space, and under ``"days"`` the same figures per
    day of the period (the chart): two queries, one pass over the window's rollups. Without
    ``by_day`` (the report API has no chart) one query over the running totals (see
    ``windows``), or one plain sum where there are none."""
    visible = spaces_for(user, filters).values("pk")
    inventory = {
        "spaces": Count("pk"),
        "projects": Sum("project_count"),
        "targets": Sum("target_count"),
        "unhealthy": Sum("unhealthy_target_count"),
    }
    if not by_day and windows.use_running(period.first, period.last):
        # The window's totals from the running totals, in the same query as the inventory:
        # two index probes per space whatever the window's length.
        quick: dict[str, Any] = dict(windows.totals(visible, period.first, period.last))
        quick["rate"] = _rate(quick["succeeded"], quick["failed"])
        return quick
    counted = Space.objects.filter(pk__in=visible).aggregate(**inventory)
    # Grouped by day rather than one sum: the chart needs these rows, and adding up a few
    # hundred of them here costs nothing next to a second scan of the window.
    window = SpaceDay.objects.filter(
        space_id__in=visible, day__gte=period.first, day__lte=period.last
    ).order_by()
    sums = {
        "ok": Sum("succeeded"),
        "bad": Sum("failed"),
        "timed": Sum("timed_out"),
        "can": Sum("canceled"),
    }
    totals: dict[str, Any] = {k: int(v or 0) for k, v in counted.items()}
    if not by_day:
        one = window.aggregate(**sums)
        totals["succeeded"] = int(one["ok"] or 0)
        totals["failed"] = int(one["bad"] or 0) + int(one["timed"] or 0)
        totals["canceled"] = int(one["can"] or 0)
        totals["rate"] = _rate(totals["succeeded"], totals["failed"])
        return totals
    found = {r["day"]: r for r in window.values("day").annotate(**sums)}
    days = []
    for day in period.days:
        r: dict[str, Any] = dict(found.get(day) or {})
        days.append(
            {
                "day": day,
                "succeeded": int(r.get("ok") or 0),
                "failed": int(r.get("bad") or 0) + int(r.get("timed") or 0),
                "canceled": int(r.get("can") or 0),
            }
        )
    totals["succeeded"] = sum(d["succeeded"] for d in days)
    totals["failed"] = sum(d["failed"] for d in days)
    totals["canceled"] = sum(d["canceled"] for d in days)
    totals["rate"] = _rate(totals["succeeded"], totals["failed"])
    totals["days"] = days
    return totals


def space_table(
    user: Any,
    period: Period,
    filters: Filters,
    sort: str = "space",
    *,
    page: int = 1,
    page_size: int | None = None,
    lists: Mapping[Any, version_rules.Allowed] | None = None,
) -> Table:
    """One row per visible, enlisted space (all of them, or one page) and the totals.
    ``lists``: the version rules (``version_rules.rules()``) if the caller has read them."""
    totals = space_totals(user, period, filters)
    rows = space_rows(user, period, filters, sort)
    pages = 1
    if page_size:
        pages = max(1, -(-totals["spaces"] // page_size))
        page = min(max(1, page), pages)
        rows = rows[(page - 1) * page_size : page * page_size]
    finish = finisher(lists)
    return Table([finish(r) for r in rows], totals, page, pages)


def filter_choices(user: Any) -> dict[str, Any]:
    instances = Instance.objects.visible_to(user)
    listed = list(instances.order_by("name").values("name", "slug", "region"))
    return {
        "instances": listed,
        "regions": sorted({i["region"] for i in listed if i["region"]}),
        "tags": list(
            Tag.objects.filter(instances__in=instances.values("pk"))
            .distinct()
            .order_by("name")
            .values_list("name", flat=True)
        ),
        "statuses": Instance.Status.choices,
        "problems": list(PROBLEMS.items()),
        "timeframes": [(k, v[0]) for k, v in TIMEFRAMES.items()],
    }


def deployments_by_day(user: Any, period: Period, filters: Filters) -> list[dict[str, Any]]:
    """Totals per day over the filtered spaces, every day of the period present."""
    return [
        {"day": d["day"], "succeeded": d["succeeded"], "failed": d["failed"]}
        for d in space_totals(user, period, filters)["days"]
    ]


def deployments_per_space_day(user: Any, period: Period, filters: Filters) -> QuerySet[Any]:
    """Rollup rows per space and day (a queryset: callers page it in SQL)."""
    spaces = spaces_for(user, filters)
    return (
        SpaceDay.objects.filter(
            space_id__in=spaces.values("pk"), day__gte=period.first, day__lte=period.last
        )
        .order_by("space__instance__name", "space__name", "day", "id")
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


def deployments_per_space_day_count(
    user: Any, period: Period, filters: Filters
) -> Callable[[], int]:
    """How many rows :func:`deployments_per_space_day` has, without its joins (every space has
    its instance, so they drop no row): for the report's page count. A long window is counted
    from the running row counts (two index probes per space, however many days), a short one
    (or any on SQLite) by counting its rows."""
    visible = spaces_for(user, filters).values("pk")
    if windows.use_running(period.first, period.last):
        return lambda: windows.row_count(visible, period.first, period.last)
    window = SpaceDay.objects.filter(
        space_id__in=visible, day__gte=period.first, day__lte=period.last
    )
    return window.count


def version_inventory(
    user: Any,
    filters: Filters | None = None,
    lists: Mapping[Any, version_rules.Allowed] | None = None,
) -> list[dict[str, Any]]:
    """Instances per version, under the same filters as the rest of the dashboard (``lists``:
    the version rules, if the caller has read them)."""
    instances = Instance.objects.visible_to(user)
    filters = filters or Filters()
    if filters.region:
        instances = instances.filter(region=filters.region)
    if filters.instance:
        instances = instances.filter(slug=filters.instance)
    if filters.status:
        instances = instances.filter(status=filters.status)
    if filters.tag:
        instances = instances.filter(tags__name=filters.tag)
    if filters.space:
        instances = instances.filter(spaces__slug=filters.space)
    return _dicts(
        Instance.objects.filter(pk__in=instances.values("pk"))
        .values("version")
        .annotate(
            instances=Count("pk"),
            pin_mismatches=Count("pk", filter=version_rules.off_instances(lists)),
        )
        .order_by("-instances", "version")
    )


def status_timelines(
    user: Any, period: Period, filters: Filters, limit: int = 100
) -> list[dict[str, Any]]:
    """Per instance, the status segments over the period, built from its flips. A timeframe of
    a day or less is the last 24 hours in hourly buckets, each showing the worst status held
    in that hour, so a five-minute outage is a visible block rather than a hairline."""
    instance_ids = spaces_for(user, filters).values("instance_id")
    hourly = period.key == "24h"
    start, end = period.start, min(period.end, timezone.now())
    if hourly:
        end = timezone.now()
        start = end.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    last_before = (
        StatusFlip.objects.filter(instance=OuterRef("pk"), at__lt=start)
        .order_by("-at", "-id")
        .values("to_status")[:1]
    )
    instances = list(
        Instance.objects.filter(pk__in=instance_ids)
        .annotate(before=Subquery(last_before))
        .order_by("name")
        .values("pk", "name", "slug", "status", "before")[:limit]
    )
    ids = [i["pk"] for i in instances]
    before = {i["pk"]: i["before"] for i in instances}
    # Tuples (instance, at, from, to), not model instances: building hundreds of StatusFlip
    # objects was a visible part of the page's time. On PostgreSQL the moments come as epoch
    # seconds: Django's timestamptz loader (pure Python, a regular expression per value) cost
    # more than the rest of the timelines together.
    flips: dict[Any, list[tuple[Any, datetime, str, str]]] = {}
    rows = StatusFlip.objects.filter(instance_id__in=ids, at__gte=start, at__lt=end).order_by(
        "at", "id"
    )
    if connection.vendor == "postgresql":
        at = Func(F("at"), template="EXTRACT(EPOCH FROM %(expressions)s)::float8")
        stamp = datetime.fromtimestamp
        for pk, seconds, old, new in rows.annotate(
            seconds=ExpressionWrapper(at, output_field=FloatField())
        ).values_list("instance_id", "seconds", "from_status", "to_status"):
            flips.setdefault(pk, []).append((pk, stamp(seconds, UTC), old, new))
    else:
        for f in rows.values_list("instance_id", "at", "from_status", "to_status"):
            flips.setdefault(f[0], []).append(f)
    span = max((end - start).total_seconds(), 1.0)
    out = []
    for inst in instances:
        own = flips.get(inst["pk"], [])
        status = before.get(inst["pk"]) or (own[0][2] if own else inst["status"])
        cursor = start
        segments = []
        for flip in [*own, None]:
            until = flip[1] if flip is not None else end
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
                status, cursor = flip[3], max(cursor, flip[1])
        if hourly:
            segments = hourly_buckets(segments, start)
        out.append({**inst, "segments": segments})
    return out


HOURS = 24
# Worst first: the colour an hourly bucket takes when several statuses shared it.
SEVERITY = ["offline", "unhealthy", "maintenance", "unknown", "online"]


def hourly_buckets(segments: list[dict[str, Any]], start: datetime) -> list[dict[str, Any]]:
    """``HOURS`` buckets from ``start``, each with the worst status of the segments in it."""
    out = []
    for hour in range(HOURS):
        lo, hi = start + timedelta(hours=hour), start + timedelta(hours=hour + 1)
        held = {s["status"] for s in segments if s["from"] < hi and s["to"] > lo}
        if not held:
            continue  # the future part of the current hour
        worst = min(held, key=lambda st: SEVERITY.index(st) if st in SEVERITY else 0)
        out.append(
            {
                "status": worst,
                "x": round(100 * hour / HOURS, 3),
                "width": round(100 / HOURS, 3),
                "from": lo,
                "to": hi,
            }
        )
    return out
