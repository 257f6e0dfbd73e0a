"""HTML for the dashboard's hot loops (table rows, status timelines), built in Python.

Django's template engine costs ~0.2 ms per table row; at 100 rows and 100 timelines per
request that alone would break the dashboard's latency budget, so these fragments are
assembled here (every value escaped with ``html.escape``, which is what Django's ``escape``
calls) and the templates include them. ``format_html`` was the next cost: its lazy wrappers
and SafeString conversions took ~1 ms per row, so plain f-strings build the markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from html import escape as _escape
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from monitoring.services.wording import duration_text
from odcm.ui import status_colour, status_dot


def _e(value: Any) -> str:
    """Escape as ``django.utils.html.escape`` does (same entities), minus its lazy-string and
    SafeString wrapping: that wrapping was most of the rows' cost."""
    if type(value) is int:  # counts: most of the values, nothing to escape
        return str(value)
    return _escape(str(value), quote=True)


def _opt(value: Any) -> str:
    return "—" if value is None else _e(value)


def _row(r: dict[str, Any], link: str, ages: dict[Any, str]) -> str:
    pin = ""
    if r["pin_mismatch"]:
        pinned = r["expected_version"] == r["pinned_version"]
        pin = (
            ' <span class="badge text-bg-danger" title="Expected {}" '
            'data-testid="pin-mismatch">{}</span>'.format(
                _e(r["expected_version"]),
                _e(f"pin {r['pinned_version']}" if pinned else "not an allowed version"),
            )
        )
    since = ""
    if r["status_since"]:
        # The spaces of one instance share its status_since: the text once per instance
        # (Django's timesince, translated, was ~40% of a row's cost).
        since = ages.get(r["status_since"]) or ages.setdefault(
            r["status_since"],
            ' <span class="small text-body-secondary" title="{} UTC">since {}</span>'.format(
                f"{r['status_since']:%Y-%m-%d %H:%M}", _e(timesince(r["status_since"]))
            ),
        )
    unhealthy = (
        f' <span class="text-danger">({_e(r["unhealthy_target_count"])})</span>'
        if r["unhealthy_target_count"]
        else ""
    )
    rate = "—" if r["rate"] is None else _e(f"{r['rate']}%")
    queue = _queue_cell(r)
    status = _e(r["status"])
    return (
        f'<tr data-testid="space-row" data-space="{_e(r["slug"])}" '
        f'data-instance="{_e(r["instance_slug"])}" data-status="{status}">'
        f'<td><a href="{_e(link.replace("SLUG", r["instance_slug"]))}">'
        f"{_e(r['instance_name'])}</a></td><td>{_e(r['region'])}</td><td>{_e(r['name'])}</td>"
        f"<td>{_e(r['version'] or '—')}{pin}</td>"
        f'<td data-testid="status">{status_dot(r["status"])} {status}{since}</td>'
        f'<td class="text-end">{_opt(r["project_count"])}</td>'
        f'<td class="text-end">{_opt(r["target_count"])}{unhealthy}</td>'
        f'<td class="text-end" data-testid="succeeded">{_e(r["succeeded"])}</td>'
        f'<td class="text-end" data-testid="failed">{_e(r["failed"])}</td>'
        f'<td class="text-end">{rate}</td>{queue}</tr>'
    )


def _queue_cell(r: dict[str, Any]) -> str:
    """Queued / executing Octopus tasks, and how long the oldest has waited when too long."""
    if r.get("queued") is None:
        return '<td class="text-end" data-testid="queue">—</td>'
    badge = ""
    if r.get("queue_waiting"):
        waited = duration_text((timezone.now() - r["oldest_queued_at"]).total_seconds())
        badge = (
            ' <span class="badge text-bg-warning" data-testid="queue-waiting" '
            f'title="The oldest queued task has waited {_e(waited)}">waiting {_e(waited)}</span>'
        )
    return (
        f'<td class="text-end" data-testid="queue" title="queued / executing">'
        f"{_e(r['queued'])} / {_e(r['executing'])}{badge}</td>"
    )


def table_rows(rows: Iterable[dict[str, Any]]) -> SafeString:
    link = reverse("monitoring:instance", args=["SLUG"])
    ages: dict[Any, str] = {}
    return mark_safe("\n".join(_row(r, link, ages) for r in rows))  # noqa: S308 - every value escaped


@lru_cache(maxsize=64)  # a handful of statuses, hundreds of segments per page
def _group_head(status: str) -> str:
    return f'<g class="fill-{_e(status_colour(status))}">'


@lru_cache(maxsize=64)
def _escaped(status: str) -> str:
    return _e(status)


def _segments(segments: Iterable[dict[str, Any]]) -> str:
    """The segments' rects in one ``<g>`` per colour rather than a class on every rect (the
    timelines were the page's largest part; fill is inherited from the ``<g>``, and ``y``
    defaults to 0). Segments never overlap, so the order they are drawn in changes nothing on
    screen; each keeps its own tooltip (times as ``%Y-%m-%d %H:%M`` by slicing ``str()``:
    strftime is several times slower). One f-string per rect, no helper call: hundreds of
    rects per page (2,400 at 24 hours)."""
    groups: dict[str, list[str]] = {}
    for s in segments:
        status = s["status"]
        rect = (
            f'<rect x="{s["x"]}" width="{s["width"]}" height="4"><title>{_escaped(status)} '
            f"{str(s['from'])[:16]} to {str(s['to'])[:16]}</title></rect>"
        )
        if status in groups:
            groups[status].append(rect)
        else:
            groups[status] = [rect]
    return "".join(f"{_group_head(status)}{''.join(rects)}</g>" for status, rects in groups.items())


def timelines(items: Iterable[dict[str, Any]]) -> SafeString:
    link = reverse("monitoring:instance", args=["SLUG"])
    parts = []
    for t in items:
        name = _e(t["name"])
        rects = _segments(t["segments"])
        parts.append(
            '<div class="d-flex align-items-center gap-2 mb-1">'
            f'<a class="small text-truncate timeline-label" '
            f'href="{_e(link.replace("SLUG", t["slug"]))}">{name}</a>'
            '<svg viewBox="0 0 100 4" width="100%" height="14" preserveAspectRatio="none" '
            f'role="img" aria-label="Status timeline of {name}">{rects}</svg></div>'
        )
    return mark_safe("\n".join(parts))  # noqa: S308 - every value escaped


def options(choices: Iterable[tuple[str, str]], chosen: str) -> SafeString:
    """``<option>``s (value, label) with ``chosen`` selected: the instance filter lists every
    instance, ~3 template variables each, so the loop is built here."""
    return mark_safe(  # noqa: S308 - every value escaped
        "".join(
            f'<option value="{_e(value)}" {"selected" if value == chosen else ""}>'
            f"{_e(label)}</option>"
            for value, label in choices
        )
    )


def chart_bars(bars: Iterable[dict[str, Any]]) -> SafeString:
    """The deployments chart's bars (``charts.stacked_bars``), one ``<g>`` per day. Was a
    template loop: ~3 ms of the page at 30 days, three times that at 90."""
    return mark_safe(  # noqa: S308 - dates and numbers only
        "\n        ".join(
            f"<g><title>{b['day']:%Y-%m-%d}: {b['succeeded']} succeeded, {b['failed']} failed"
            "</title>\n"
            f'          <rect class="fill-success" x="{b["x"]}" y="{b["ok_y"]}" '
            f'width="{b["width"]}" height="{b["ok_h"]}"></rect>\n'
            f'          <rect class="fill-danger" x="{b["x"]}" y="{b["bad_y"]}" '
            f'width="{b["width"]}" height="{b["bad_h"]}"></rect></g>'
            for b in bars
        )
    )


_ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def fleet_space_rows(
    instance_name: str,
    instance_slug: str,
    spaces: Iterable[Any],
    links: tuple[str, str] | None = None,
) -> SafeString:
    """The fleet section's space rows (``FleetSpace``), one ``<tr>`` each.

    At 1,000 spaces the template loop with a ``{% url %}`` per row was most of the
    dashboard's CPU (~375 ms); URLs are reversed once (``links``: the space page with a zero
    UUID, the home page, as ``_fleet_links`` gives them) and filled in per row.
    """
    space_link, home = links or _fleet_links()
    before, after = space_link.split(_ZERO_UUID)
    inst = _e(instance_name)
    dashboard = f"{home}?space={{}}&amp;instance={_e(instance_slug)}&amp;tf=7d"
    parts = []
    for s in spaces:
        name = _e(s.name)
        octo = _e(s.octopus_url)
        projects = (
            "—"
            if s.projects is None
            else f'<a href="{octo}/projects" title="Projects of {name} ({inst}) in Octopus">'
            f"{s.projects}</a>"
        )
        targets = (
            "—"
            if s.targets is None
            else f'<a href="{octo}/infrastructure/machines" title="Deployment targets in Octopus">'
            f"{s.targets}</a>"
        )
        unhealthy = (
            f'<a class="text-danger" href="{octo}/infrastructure/machines?healthStatuses=Unhealthy"'
            f' title="Unhealthy targets in Octopus">{s.unhealthy_targets}</a>'
            if s.unhealthy_targets
            else "0"
        )
        failed = (
            f'<a class="text-danger" href="{octo}/tasks?states=Failed,TimedOut" '
            f'title="Failed deployments in Octopus" data-testid="failed-link">{s.failed}</a>'
            if s.failed
            else "0"
        )
        warn = ' class="table-warning"' if s.problem else ""
        # Counts are integers and ids UUIDs (nothing to escape); names and slugs are escaped.
        parts.append(
            f'<tr data-testid="fleet-space"{warn}>'
            f'<td><a href="{before}{s.id}{after}">{name}</a></td>'
            f'<td class="text-end">{projects}</td><td class="text-end">{targets}</td>'
            f'<td class="text-end">{unhealthy}</td>'
            f'<td class="text-end"><a href="{dashboard.format(_e(s.slug))}"'
            f' title="Deployments on the dashboard">{s.succeeded}</a></td>'
            f'<td class="text-end">{failed}</td></tr>'
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value escaped


def _fleet_links() -> tuple[str, str]:
    return _e(reverse("spaces:space", args=[_ZERO_UUID])), _e(reverse("home"))


_SPACES_HEAD = (
    '<thead><tr><th>Space</th><th class="text-end">Projects</th><th class="text-end">Targets'
    '</th><th class="text-end">Unhealthy</th><th class="text-end">Succeeded (7 d)</th>'
    '<th class="text-end">Failed (7 d)</th></tr></thead>'
)


def fleet_instances(rows: Iterable[Any]) -> SafeString:
    """The fleet section's instances (``FleetInstance``), one ``<details>`` each, with their
    space rows (those read: one page's worth at most, see ``fleet.paged``). Was a template
    loop: ~30 ms of the page's CPU at 100 instances."""
    instance_link = reverse("spaces:instance", args=[_ZERO_UUID])
    links = _fleet_links()
    home = links[1]
    parts = []
    for row in rows:
        i, problems = row.instance, row.problems
        slug = _e(i.slug)
        first = "danger" if i.status == "offline" else "warning"
        badges = "".join(
            f'<span class="badge text-bg-{first if n == 0 else "warning"}"'
            f' data-testid="problem">{_e(p)}</span>'
            for n, p in enumerate(problems)
        )
        if row.allowed:
            pin = f" (allowed {_e(str(row.allowed))})"
        else:
            pin = f" (pin {_e(row.pinned_version)})" if row.pinned_version else ""
        count = row.space_count
        body = fleet_space_rows(i.name, i.slug, row.spaces, links)
        more = (
            f'<p class="small mb-1" data-testid="fleet-more">The {len(row.spaces)} most '
            f'urgent of {count} spaces: <a href="{home}?instance={slug}">all of them in the '
            "spaces table</a></p>"
            if len(row.spaces) < count
            else ""
        )
        spaces = (
            '<table class="table table-sm mb-1 mt-2 small fleet-spaces">\n    '
            f"{_SPACES_HEAD}\n    <tbody>{body}</tbody>\n"
            f"  </table>{more}"
            if row.spaces
            else '<p class="small text-body-secondary mb-0 mt-2">'
            "No enlisted spaces you can see.</p>"
        )
        parts.append(
            f'\n<details class="list-group-item fleet-instance" data-testid="fleet-instance" '
            f'data-instance="{slug}" data-status="{_e(i.status)}" '
            f'data-problem="{"yes" if problems else "no"}"{" open" if problems else ""}>\n'
            '  <summary class="d-flex flex-wrap align-items-center gap-2">\n'
            f"    {status_dot(i.status, i.get_status_display())}\n"
            f'    <a class="fw-semibold" href="{_e(instance_link.replace(_ZERO_UUID, str(i.pk)))}"'
            f">{_e(i.name)}</a>\n"
            f'    <span class="small text-body-secondary">{_e(i.region or "no region")} · '
            f"{_e(i.version or 'version unknown')}{pin}</span>\n"
            f"    {badges}\n"
            f'    <span class="ms-auto small text-body-secondary">{count} space'
            f"{'' if count == 1 else 's'}</span>\n"
            f"  </summary>\n  {spaces}\n</details>\n"
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value escaped
