"""The dashboard (home page), its CSV, an instance's monitoring page and alert settings."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from identity import access
from monitoring import render as render_html
from monitoring import version_rules
from monitoring.charts import stacked_bars
from monitoring.forms import (
    AlertSettingsForm,
    ChannelForm,
    EndWindowForm,
    MaintenanceWindowForm,
    PinForm,
)
from monitoring.models import AlertChannel, MaintenanceWindow
from monitoring.services import (
    alerts,
    audience,
    channels,
    checklist,
    configuration,
    dashboard,
    fleet,
)
from monitoring.services.stamp import data_stamp
from odcm import csvout
from odcm.decorators import admin_required
from odcm.htmx import HtmxHttpRequest
from spaces import signals as space_signals
from spaces.models import Instance

CSV_COLUMNS = [
    ("instance", "instance_name"),
    ("region", "region"),
    ("space", "name"),
    ("space_id", "octopus_id"),
    ("version", "version"),
    ("pinned_version", "pinned_version"),
    ("status", "status"),
    ("status_since", "status_since"),
    ("projects", "project_count"),
    ("targets", "target_count"),
    ("unhealthy_targets", "unhealthy_target_count"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("canceled", "canceled"),
    ("success_rate", "rate"),
]


def _context(request: HttpRequest) -> dict[str, Any]:
    """The table's part of the page; under ``"rules"`` the version rules, read at most once
    per request by whichever section needs them first (only uncached sections do)."""
    params = request.GET
    period = dashboard.parse_period(params)
    filters = dashboard.Filters.from_params(params)
    sort = str(params.get("sort") or "space")
    page = _number(params, "page")
    stamp = data_stamp()
    size = settings.ODCM_DASHBOARD_PAGE_SIZE
    rules = cache(version_rules.rules)

    def compute_table() -> tuple[dashboard.Table, str]:
        table = dashboard.space_table(
            request.user, period, filters, sort, page=page, page_size=size, lists=rules()
        )
        return table, str(render_html.table_rows(table.rows))

    # The rendered rows are cached with the figures: rendering is most of a request's cost.
    table, rows_html = dashboard.cached(
        request.user, stamp, ("table", period, filters, sort, page, size), compute_table
    )
    query = {**filters.as_dict(), "tf": period.key}
    if period.key == "custom":
        query.update({"from": period.first.isoformat(), "to": period.last.isoformat()})
    if _number(params, "fleet") > 1:
        # The refresh finds the cards in the cached fleet page being looked at.
        query["fleet"] = str(_number(params, "fleet"))
    return {
        "rows_html": mark_safe(rows_html),  # noqa: S308 - built with format_html
        "pages": {
            "number": table.page,
            "count": table.pages,
            "links": _page_links(request, table.pages),
        },
        "period": period,
        "filters": filters,
        "sort": sort,
        "table": table,
        "query": query,
        "now": timezone.now(),
        "refresh_seconds": settings.ODCM_DASHBOARD_REFRESH_SECONDS,
        "stamp": stamp,
        "rules": rules,
    }


def _number(params: Any, name: str) -> int:
    """A page number from the query (1 when absent or not a number)."""
    try:
        return max(1, int(params.get(name) or 1))
    except ValueError:
        return 1


def _page_links(request: HttpRequest, count: int, name: str = "page") -> list[tuple[int, str]]:
    """(number, "?…&page=number") per page of the table (or ``name``'s pages): what
    ``{% querystring page=n part=None %}`` gives, built once rather than a copy of the query
    per link."""
    params = request.GET.copy()
    params.pop("part", None)
    links = []
    for number in range(1, count + 1):
        params[name] = str(number)
        links.append((number, f"?{params.urlencode()}"))
    return links


def _fleet(
    user: Any, stamp: str, rules: Callable[[], Any], *, html: bool = True, page: int = 1
) -> fleet.Summary:
    """The fleet section, cached like the table: per user (what they may see) and data stamp
    (a sweep, a pin, a revoked grant or a delivery starting or stopping to fail bumps it).
    ``page``: which page of instances (``fleet.paged``). Without ``html``, the cards only (the
    refresh): neither the spaces are read nor the instances' HTML built."""
    console = reverse("spaces:instances")
    size = settings.ODCM_DASHBOARD_PAGE_SIZE
    if not html:
        # The page's cached section has the same cards: reuse it rather than compute them.
        whole = dashboard.cached_already(user, stamp, ("fleet", True, page, size))
        if whole is not None:
            return cast(fleet.Summary, whole)

    def compute() -> fleet.Summary:
        found = fleet.fleet(
            user,
            console,
            f"{console}?delivery=failing",
            rules(),
            page=page,
            page_rows=size,
            spaces=html,
        )
        return found.summary(html=html)

    parts = ("fleet", True, page, size) if html else ("fleet", False)
    return dashboard.cached(user, stamp, parts, compute)


def _fleet_context(request: HttpRequest, stamp: str, rules: Callable[[], Any]) -> dict[str, Any]:
    """The fleet section's page (``?fleet=n``) and the links to its other pages."""
    found = _fleet(request.user, stamp, rules, page=_number(request.GET, "fleet"))
    return {"fleet": found, "fleet_links": _page_links(request, found.pages, "fleet")}


@login_required
def dashboard_view(request: HtmxHttpRequest) -> HttpResponse:
    if request.htmx and request.GET.get("part") == "fleet":
        # Another page of the fleet's instances: that section alone.
        more = _fleet_context(request, data_stamp(), cache(version_rules.rules))
        return render(request, "monitoring/_fleet_page.html", more)
    context = _context(request)
    if request.htmx and request.GET.get("part") == "table":
        # The periodic refresh: the table, and the fleet cards swapped out of band with it.
        context["fleet"] = _fleet(
            request.user,
            context["stamp"],
            context["rules"],
            html=False,
            page=_number(request.GET, "fleet"),
        )
        return render(request, "monitoring/_dashboard_refresh.html", context)
    user, period, filters = request.user, context["period"], context["filters"]

    def extras() -> dict[str, Any]:
        return {
            "choices": dashboard.filter_choices(user),
            "timelines_html": str(
                render_html.timelines(dashboard.status_timelines(user, period, filters))
            ),
            "versions": dashboard.version_inventory(user, filters, context["rules"]()),
        }

    more = dashboard.cached(user, context["stamp"], ("extras", period, filters), extras)
    context["choices"], context["versions"] = more["choices"], more["versions"]
    context["instance_options"] = render_html.options(
        ((i["slug"], i["name"]) for i in more["choices"]["instances"]), filters.instance
    )
    # The chart's figures came with the table's totals (one pass over the rollups).
    context["chart"] = stacked_bars(context["table"].totals["days"])
    context["chart_html"] = render_html.chart_bars(context["chart"]["bars"])
    context["timelines_html"] = mark_safe(more["timelines_html"])  # noqa: S308 - format_html
    if request.htmx:
        # The date boxes sit outside the swapped part: send them along with the dates used.
        context["oob"] = True
        return render(request, "monitoring/_dashboard_all.html", context)
    context.update(_fleet_context(request, context["stamp"], context["rules"]))
    context["panels"] = space_signals.dashboard_panels(request)
    if access.is_admin(user):
        steps = checklist.first_run_checklist()
        context["checklist"] = steps if not all(step.done for step in steps) else []
    return render(request, "monitoring/dashboard.html", context)


@login_required
def spaces_csv(request: HttpRequest) -> HttpResponse:
    period = dashboard.parse_period(request.GET)
    filters = dashboard.Filters.from_params(request.GET)
    rows = dashboard.space_rows(request.user, period, filters, str(request.GET.get("sort") or ""))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        True, f"odcm-spaces-{period.first}-{period.last}.csv"
    )
    writer = csvout.writer(response)
    writer.writerow([name for name, _ in CSV_COLUMNS])
    finish = dashboard.finisher()
    for raw in rows.iterator(chunk_size=500):
        row = finish(raw)
        writer.writerow([row.get(key) for _, key in CSV_COLUMNS])
    return response


def _visible_instance(request: HttpRequest, slug: str) -> Instance:
    instance = Instance.objects.visible_to(request.user).filter(slug=slug).first()
    if instance is None:
        raise Http404("No such instance.")
    return instance


@login_required
@require_http_methods(["GET", "POST"])
def instance_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The instance page lives with the registry; this URL redirects there and takes the
    monitoring forms on it (pin, maintenance windows, test alert)."""
    instance = _visible_instance(request, slug)
    page = redirect("spaces:instance", pk=instance.pk)
    if request.method == "GET":
        return page
    if not access.can_manage_instance(request.user, instance):
        raise Http404("No such instance.")
    action = request.POST.get("action")
    if action == "pin":
        _save_pin(request, instance)
    elif action == "window":
        _save_window(request, instance)
    elif action == "end-window":
        _end_window(request, instance)
    elif action == "test-alert":
        _test_alert(request, instance)
    else:
        messages.error(request, "Unknown action.")
    return page


def _form_errors(form: Any) -> str:
    return " ".join(
        f"{form.fields[name].label + ': ' if name in form.fields else ''}{error}"
        for name, errors in form.errors.items()
        for error in errors
    )


def _save_pin(request: HttpRequest, instance: Instance) -> None:
    form = PinForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Version pin not saved. {_form_errors(form)}")
        return
    configuration.pin_version(
        instance, form.cleaned_data["pinned_version"], actor=request.user, request=request
    )
    messages.success(request, "Version pin saved.")


def _save_window(request: HttpRequest, instance: Instance) -> None:
    form = MaintenanceWindowForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Maintenance window not scheduled. {_form_errors(form)}")
        return
    configuration.schedule_window(
        instance, **form.cleaned_data, actor=request.user, request=request
    )
    messages.success(request, "Maintenance window scheduled.")


def _end_window(request: HttpRequest, instance: Instance) -> None:
    which = EndWindowForm(request.POST)
    if not which.is_valid():
        raise Http404("No such maintenance window.")
    window = get_object_or_404(
        MaintenanceWindow, pk=which.cleaned_data["window"], instance=instance
    )
    configuration.end_window(window, actor=request.user, request=request)


def _test_alert(request: HttpRequest, instance: Instance) -> None:
    told = [user.get_username() for user in audience.recipients(instance, "test")]
    told += [f"channel {c.name}" for c in channels.listening(instance)]
    if not told:
        messages.warning(
            request,
            f"Nobody would be told about {instance.name}: no owner, administrator or "
            "subscriber with an email address wants its alerts, and no channel takes them. "
            "No test alert was sent.",
        )
        return
    alerts.send_test_alert(instance, request.user, request=request)  # type: ignore[arg-type]
    names = ", ".join(told)
    messages.success(request, f"Test alert queued for {names}. Its delivery shows under Alerts.")


@login_required
@require_http_methods(["GET", "POST"])
def alert_settings_view(request: HttpRequest) -> HttpResponse:
    current = alerts.settings_for(request.user)  # type: ignore[arg-type]
    visible = alerts.subscribable_instances(request.user)  # type: ignore[arg-type]
    form = AlertSettingsForm(
        request.POST or None,
        instance=current,
        instances=visible,
        admin=access.is_admin(request.user),
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        configuration.save_alert_settings(
            request.user,
            instances=data.pop("instances"),
            flags=data,
            actor=request.user,
            request=request,
        )
        messages.success(request, "Alert settings saved.")
        return redirect("monitoring:alert-settings")
    return render(request, "monitoring/alert_settings.html", {"form": form})


@admin_required
@require_http_methods(["GET", "POST"])
def channels_view(request: HttpRequest) -> HttpResponse:
    """Alert channels besides email (administrators): add, pause, remove, see deliveries."""
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and request.POST.get("action") in ("enable", "disable", "delete"):
        channel = get_object_or_404(AlertChannel, pk=request.POST.get("channel"))
        action = request.POST["action"]
        if action == "delete":
            channels.delete_channel(channel, actor=request.user, request=request)
            messages.success(request, f"Removed {channel.name}.")
        else:
            channels.set_enabled(channel, action == "enable", actor=request.user, request=request)
            messages.success(request, f"{channel.name} {action}d.")
        return redirect("monitoring:channels")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            channel, generated = channels.create_channel(
                name=data["name"],
                kind=data["kind"],
                url=data["url"],
                secret=data["secret"],
                events=form.events(),
                instances=list(data["instances"]),
                actor=request.user,
                request=request,
            )
        except channels.ChannelError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, f"Added {channel.name}. Send a test alert from an instance.")
            if generated:
                messages.warning(
                    request,
                    f"Signing secret for {channel.name} (shown once): {generated}",
                )
            return redirect("monitoring:channels")
    return render(
        request, "monitoring/channels.html", {"form": form, "channels": channels.recent()}
    )
