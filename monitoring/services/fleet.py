"""The fleet at a glance (the dashboard's first screen): summary cards, instances with their
problems sorted to the top, and each instance's spaces grouped under it.

A fixed number of queries whatever the size of the fleet, and only what ``identity.access``
lets the user see. Figures come from what the sweeps already stored; nothing calls Octopus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from monitoring import version_rules
from monitoring.models import ChannelDelivery, Notification, SpaceDay, SpaceQueue
from monitoring.render import fleet_instances, fleet_space_rows
from monitoring.services import queues
from spaces.models import Instance, Space

Status = Instance.Status
# Lower comes first: what needs a person now, then what needs one soon.
STATUS_RANK: dict[str, int] = {
    Status.OFFLINE: 0,
    Status.UNHEALTHY: 1,
    Status.UNKNOWN: 3,
    Status.MAINTENANCE: 4,
    Status.ONLINE: 5,
}
# Deployment failures count over this many days on the fleet screen.
FAILURE_DAYS = 7


@dataclass
class FleetSpace:
    id: Any
    name: str
    slug: str
    octopus_url: str
    projects: int | None
    targets: int | None
    unhealthy_targets: int
    succeeded: int
    failed: int

    @property
    def problem(self) -> bool:
        return bool(self.unhealthy_targets or self.failed)


@dataclass
class FleetInstance:
    instance: Instance
    pinned_version: str
    failing_deliveries: int
    # Over every visible enlisted space of the instance (not only the rows on this page).
    space_count: int = 0
    unhealthy_targets: int = 0
    failed: int = 0
    # The rows shown: filled only for the instances on the fleet page being rendered, at most
    # a page's worth (problems first).
    spaces: list[FleetSpace] = field(default_factory=list)
    # A pipeline stage's allowed versions, which replace the pin (monitoring.version_rules).
    allowed: version_rules.Allowed | None = None

    @property
    def spaces_html(self) -> str:
        """The space rows, built in Python (monitoring/render.py): the hot loop of the page."""
        return fleet_space_rows(self.instance.name, self.instance.slug, self.spaces)

    @property
    def off_pin(self) -> bool:
        return version_rules.off(self.instance.version, self.pinned_version, self.allowed)

    @property
    def expected(self) -> str:
        return version_rules.expected(self.pinned_version, self.allowed)

    @cached_property  # read several times per row
    def problems(self) -> list[str]:
        """What is wrong, in words, most urgent first (empty: nothing to look at)."""
        out = []
        if self.instance.status in (Status.OFFLINE, Status.UNHEALTHY):
            out.append(self.instance.get_status_display())
        if self.off_pin and self.allowed is not None:
            out.append(f"not an allowed version ({self.allowed}, {self.allowed.source})")
        elif self.off_pin:
            out.append(f"off its pin {self.pinned_version}")
        if self.failing_deliveries:
            out.append(f"{self.failing_deliveries} failing alert deliveries")
        if self.unhealthy_targets:
            out.append(f"{self.unhealthy_targets} unhealthy targets")
        if self.failed:
            out.append(f"{self.failed} failed deployments")
        return out

    @cached_property  # read several times per row
    def rank(self) -> tuple[int, int, str]:
        status = STATUS_RANK.get(self.instance.status, 2)
        if status > 1 and self.problems:
            status = 2  # online but something else is wrong: above the quiet ones
        return (status, -len(self.problems), self.instance.name.lower())


@dataclass
class Card:
    key: str
    label: str
    count: int | None
    url: str
    colour: str
    # Shown under the number: what the card counts, or why it has no figure yet.
    note: str = ""


@dataclass
class Fleet:
    """The fleet ``user`` may see: the cards and problem count over every instance, and the
    instances of one page (``page`` of ``pages``) with their space rows."""

    cards: list[Card]
    instances: list[FleetInstance]
    problem_count: int = 0
    instance_count: int = 0
    page: int = 1
    pages: int = 1
    # Place of the page's first instance in the whole ordered fleet (1-based; 0: none).
    first: int = 0

    @property
    def instances_html(self) -> str:
        """The instances with their spaces, built in Python (monitoring/render.py)."""
        return fleet_instances(self.instances)

    def summary(self, *, html: bool = True) -> Summary:
        """What the dashboard shows of this fleet, in the form it is cached in; without
        ``html`` only the figures (the table's refresh swaps in the cards alone)."""
        rows = self.instances_html if html else ""
        return Summary(
            self.cards,
            self.problem_count,
            self.instance_count,
            rows,
            self.page,
            self.pages,
            self.first,
            len(self.instances),
        )


@dataclass(frozen=True)
class Summary:
    """The fleet section as the dashboard caches it (per user, see ``dashboard.cached``):
    the cards, how many instances need attention and one page of the instances' HTML, already
    built, so a cached page neither queries nor renders the fleet again."""

    cards: list[Card]
    problem_count: int
    instance_count: int
    # Plain text in the cache; marked safe on the way out (built escaped by render.py).
    html: str
    page: int = 1
    pages: int = 1
    first: int = 0
    shown: int = 0

    @property
    def instances_html(self) -> SafeString:
        return mark_safe(self.html)  # noqa: S308 - every value escaped by monitoring.render

    @property
    def last(self) -> int:
        return self.first + self.shown - 1


def paged(rows: list[FleetInstance], budget: int) -> list[list[FleetInstance]]:
    """The ordered instances cut into pages of at most ``budget`` space rows: an instance is
    never split, and counts as at least one row (its header) and at most ``budget`` (its rows
    beyond a page are left to the spaces table)."""
    pages: list[list[FleetInstance]] = []
    current: list[FleetInstance] = []
    used = 0
    for row in rows:
        size = max(1, min(row.space_count, budget))
        if current and used + size > budget:
            pages.append(current)
            current, used = [], 0
        current.append(row)
        used += size
    pages.append(current)
    return pages


def _failing_deliveries() -> dict[Any, int]:
    """Alert deliveries (emails and channel posts) that failed and are still being retried,
    per instance: two queries. Not narrowed to the instances shown (a list of ids in the
    query cost more than the few failing rows it would leave out): callers look up theirs."""
    failing = Q(state="pending", attempts__gt=0) & ~Q(last_error="")
    out: dict[Any, int] = {}
    for model in (Notification, ChannelDelivery):
        rows = (
            model.objects.filter(failing)
            .order_by()
            .values_list("alert__instance_id")
            .annotate(n=Count("pk"))
        )
        for key, n in rows:
            out[key] = out.get(key, 0) + n
    return out


def queued_task_alerts(user: Any) -> int | None:
    """Spaces ``user`` may see whose queue alert is open now: the oldest queued task has waited
    longer than ``ODCM_QUEUE_ALERT_MINUTES`` and people were told (``SpaceQueue.alerted``,
    cleared by the "moving again" alert). ``None`` when queue alerts are turned off, so the
    card says so rather than show a reassuring 0. One query, its visibility as a subquery
    (a list of every visible instance's id, as parameters, cost more than the count)."""
    if queues.threshold() is None:
        return None
    return SpaceQueue.objects.filter(
        alerted=True,
        space__state=Space.State.ENLISTED,
        space__instance__in=Instance.objects.visible_to(user).values("pk"),
        space__in=Space.objects.visible_to(user).values("pk"),
    ).count()


def fleet(
    user: Any,
    console_url: str,
    deliveries_url: str,
    lists: Mapping[Any, version_rules.Allowed] | None = None,
    *,
    page: int = 1,
    page_rows: int = 100,
    spaces: bool = True,
) -> Fleet:
    """The fleet ``user`` may see. ``console_url`` is the instances console (cards link to it
    filtered); ``deliveries_url`` where failing deliveries are listed. The instances are cut
    into pages of at most ``page_rows`` space rows (:func:`paged`) and only ``page``'s spaces
    are read. Nine queries, and the version rules' (``version_rules.rules``) unless ``lists``
    holds them already; without ``spaces`` (the cards alone) five, and no page."""
    # Only what the section shows, with the pin joined in: no API key to decrypt, no second
    # query for the pins.
    instances = list(
        Instance.objects.visible_to(user)
        .only("id", "name", "slug", "base_url", "region", "status", "version")
        .annotate(pin=Coalesce(F("monitor__pinned_version"), Value("")))
        .order_by("name")
    )
    ids = [i.pk for i in instances]
    failing = _failing_deliveries()
    lists = version_rules.rules(ids) if lists is None else lists
    rows = {
        i.pk: FleetInstance(i, i.pin, failing.get(i.pk, 0), allowed=lists.get(i.pk))
        for i in instances
    }
    queued = queued_task_alerts(user)
    if not spaces:
        every = list(rows.values())
        return Fleet(_cards(every, queued, console_url, deliveries_url), [], 0, len(every))
    since = timezone.now().date() - timedelta(days=FAILURE_DAYS - 1)
    visible = Space.objects.visible_to(user).filter(state=Space.State.ENLISTED)
    # Each instance's figures over all its spaces, grouped in SQL: the ranking needs them for
    # every instance, the rows only for the page's.
    for instance_id, count, unhealthy in (
        visible.order_by()
        .values_list("instance_id")
        .annotate(n=Count("pk"), bad=Sum("unhealthy_target_count"))
    ):
        if instance_id in rows:
            rows[instance_id].space_count, rows[instance_id].unhealthy_targets = (
                count,
                unhealthy or 0,
            )
    for instance_id, failed in (
        SpaceDay.objects.filter(day__gte=since, space_id__in=visible.values("pk"))
        .order_by()
        .values_list("space__instance_id")
        .annotate(bad=Sum(F("failed") + F("timed_out")))
    ):
        if instance_id in rows:
            rows[instance_id].failed = failed or 0
    ordered = sorted(rows.values(), key=lambda r: r.rank)
    pages = paged(ordered, page_rows)
    number = min(max(1, page), len(pages))
    shown = pages[number - 1]
    first = sum(len(p) for p in pages[: number - 1]) + 1 if shown else 0
    _fill_spaces(shown, visible, since, page_rows)
    return Fleet(
        _cards(ordered, queued, console_url, deliveries_url),
        shown,
        sum(1 for r in ordered if r.problems),
        len(ordered),
        number,
        len(pages),
        first,
    )


def _fill_spaces(
    shown: list[FleetInstance], visible: QuerySet[Space], since: date, limit: int
) -> None:
    """The space rows of the page's instances (two queries), problems first, at most
    ``limit`` per instance."""
    by_id = {r.instance.pk: r for r in shown}
    here = visible.filter(instance_id__in=list(by_id))
    # SpaceDay has no reverse relation on Space: the week's figures come in one grouped query
    # over the (day, space) covering index (a subquery per space cost PostgreSQL 6 times more).
    figures = {
        space_id: (ok, bad)
        for space_id, ok, bad in SpaceDay.objects.filter(
            day__gte=since, space_id__in=here.values("pk")
        )
        .order_by()
        .values_list("space_id")
        .annotate(ok=Sum("succeeded"), bad=Sum(F("failed") + F("timed_out")))
    }
    # Plain values, not model instances: 1,000 spaces' rows built into models were a large
    # share of the page's CPU. The Octopus link is Space.octopus_url's, from the instance.
    spaces = here.order_by("name").values_list(
        "id",
        "name",
        "slug",
        "octopus_id",
        "instance_id",
        "project_count",
        "target_count",
        "unhealthy_target_count",
    )
    bases = {pk: r.instance.base_url.rstrip("/") for pk, r in by_id.items()}
    for pk, name, slug, octopus_id, instance_id, projects, targets, unhealthy in spaces:
        by_id[instance_id].spaces.append(
            FleetSpace(
                pk,
                name,
                slug,
                f"{bases[instance_id]}/app#/{octopus_id}",
                projects,
                targets,
                unhealthy or 0,
                *figures.get(pk, (0, 0)),
            )
        )
    for row in shown:
        row.spaces.sort(key=lambda s: (not s.problem, s.name.lower()))
        del row.spaces[limit:]


def _cards(
    rows: list[FleetInstance], queued: int | None, console_url: str, deliveries_url: str
) -> list[Card]:
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row.instance.status] = by_status.get(row.instance.status, 0) + 1
    cards = [
        Card(status, label, by_status.get(status, 0), f"{console_url}?status={status}", colour)
        for status, label, colour in (
            (Status.ONLINE, "Online", "success"),
            (Status.OFFLINE, "Offline", "danger"),
            (Status.UNHEALTHY, "Unhealthy", "warning"),
            (Status.MAINTENANCE, "Maintenance", "info"),
        )
    ]
    cards += [
        Card(
            "off_pin",
            "Off its version pin",
            sum(1 for r in rows if r.off_pin),
            f"{console_url}?off_pin=true",
            "danger",
        ),
        Card(
            "failed_deliveries",
            "Failed alert deliveries",
            sum(r.failing_deliveries for r in rows),
            deliveries_url,
            "danger",
            "retrying",
        ),
        Card(
            "queued_tasks",
            "Queued-task alerts",
            queued,
            # The dashboard's own filter lists exactly the spaces whose queue waits too long.
            f"{reverse('home')}?problem=queue",
            "warning",
            "queues waiting now" if queued is not None else "queue alerts are off",
        ),
    ]
    return cards
