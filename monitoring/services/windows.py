"""A space's deployment figures over a window of days, as expressions on a Space queryset.

On PostgreSQL each figure is the difference of two running totals (``SpaceDay.run_*``, kept
true by the trigger of monitoring migration 0009): the total at the space's last row on or
before the window's last day, minus the total at its last row before the window's first day.
That is two index-only probes per space and figure whatever the window's length, where
summing the window read one rollup row per space and day (455,000 rows for 90 days at 5,000
spaces). It equals the plain sum because a running total at a row is the sum of every row of
the space up to that day: rows inside the window are exactly those counted at the end and not
at the start. A compacted month (retention folds old days into the 1st) counts where its 1st
falls, as it does in the plain sum.

A window of at most ``SHORT_WINDOW_DAYS`` is still summed (its rows are few and lie together
in the index); so is every window elsewhere (the SQLite demo, which has no trigger).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from monitoring.models import SpaceDay
from spaces.models import Space

# Figure name -> (running-total column, what the plain sum adds up).
FIGURES: dict[str, tuple[str, Any]] = {
    "succeeded": ("run_succeeded", F("succeeded")),
    "failed": ("run_failed", F("failed") + F("timed_out")),
    "canceled": ("run_canceled", F("canceled")),
}


# Up to this many days a window is summed: its rows lie together in the (day, space) index and
# reading them costs less than two scattered probes per space (bench/dashboard.py prints both:
# at 1,000 spaces a 7-day sum read 8,000 rows in 24 ms, the probes 74 ms; 30 days, 109 against
# 62 ms; 90 days, 155 against 45 ms).
SHORT_WINDOW_DAYS = 14


def running() -> bool:
    """Whether the running totals are maintained here (PostgreSQL, with the trigger)."""
    return connection.vendor == "postgresql"


def use_running(first: date, last: date) -> bool:
    """Whether a window is cheaper from the running totals than summed."""
    return running() and (last - first).days + 1 > SHORT_WINDOW_DAYS


def _total_through(column: str, day: date) -> Coalesce:
    latest = (
        SpaceDay.objects.filter(space=OuterRef("pk"), day__lte=day)
        .order_by("-day")
        .values(column)[:1]
    )
    return Coalesce(Subquery(latest, output_field=BigIntegerField()), 0)


def _summed(first: date, last: date, expression: Any) -> Coalesce:
    window = (
        SpaceDay.objects.filter(space=OuterRef("pk"), day__gte=first, day__lte=last)
        .order_by()
        .values("space")
        .annotate(total=Sum(expression))
        .values("total")
    )
    return Coalesce(Subquery(window, output_field=BigIntegerField()), 0)


def figures(first: date, last: date, *, fast: bool | None = None) -> dict[str, Any]:
    """``succeeded``, ``failed`` (timed out included) and ``canceled`` of the space (the
    outer queryset's row) over the days ``first`` to ``last``, both included: from the running
    totals for a long window, summed for a short one; ``fast`` forces one way (the tests
    compare the two)."""
    fast = use_running(first, last) if fast is None else fast
    if not fast:
        return {name: _summed(first, last, expr) for name, (_, expr) in FIGURES.items()}
    before = first - timedelta(days=1)
    return {
        name: _total_through(column, last) - _total_through(column, before)
        for name, (column, _) in FIGURES.items()
    }


_TOTALS = """
SELECT count(*), sum(s.project_count), sum(s.target_count), sum(s.unhealthy_target_count),
    sum(coalesce(e.rs, 0) - coalesce(b.rs, 0)), sum(coalesce(e.rf, 0) - coalesce(b.rf, 0)),
    sum(coalesce(e.rc, 0) - coalesce(b.rc, 0))
FROM {space} AS s
LEFT JOIN LATERAL (
    SELECT run_succeeded AS rs, run_failed AS rf, run_canceled AS rc FROM {day}
    WHERE space_id = s.id AND day <= %s ORDER BY day DESC LIMIT 1
) AS e ON true
LEFT JOIN LATERAL (
    SELECT run_succeeded AS rs, run_failed AS rf, run_canceled AS rc FROM {day}
    WHERE space_id = s.id AND day < %s ORDER BY day DESC LIMIT 1
) AS b ON true
WHERE s.id IN ({visible})
"""


def totals(visible: QuerySet[Any], first: date, last: date) -> dict[str, int]:
    """The inventory and window figures summed over the spaces whose ids ``visible`` selects,
    in one query on PostgreSQL: two index probes per space (one per window end, all three
    figures at once), which the ORM's one-subquery-per-figure form would make six."""
    inner, params = visible.query.sql_with_params()
    sql = _TOTALS.format(space=Space._meta.db_table, day=SpaceDay._meta.db_table, visible=inner)
    with connection.cursor() as cursor:
        cursor.execute(sql, [last, first, *params])
        row = cursor.fetchone()
    names = ("spaces", "projects", "targets", "unhealthy", *FIGURES)
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


# Scalar subqueries, not LATERAL joins as in _TOTALS: with a LATERAL probe for one column the
# planner walked the (day, space) index and fetched each row from the table (~60 ms at 1,000
# spaces over 90 days, slower than counting); these are index-only probes of spaceday_unique
# (~15 ms).
_ROWS = """
SELECT coalesce(sum(
    coalesce((SELECT run_days FROM {day} WHERE space_id = s.id AND day <= %s
              ORDER BY day DESC LIMIT 1), 0)
  - coalesce((SELECT run_days FROM {day} WHERE space_id = s.id AND day < %s
              ORDER BY day DESC LIMIT 1), 0)
), 0)
FROM {space} AS s
WHERE s.id IN ({visible})
"""


def row_count(visible: QuerySet[Any], first: date, last: date) -> int:
    """How many rollup rows (``SpaceDay``) the spaces whose ids ``visible`` selects have from
    ``first`` to ``last``: the same number as counting them, from the running row counts
    (``run_days``), two index-only probes per space (PostgreSQL only)."""
    if first > last:
        return 0
    inner, params = visible.query.sql_with_params()
    sql = _ROWS.format(space=Space._meta.db_table, day=SpaceDay._meta.db_table, visible=inner)
    with connection.cursor() as cursor:
        cursor.execute(sql, [last, first, *params])
        row = cursor.fetchone()
    return int(row[0] or 0)
