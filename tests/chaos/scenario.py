"""The chaos run's Django side, run as ``python -m tests.chaos.scenario <command>`` with the
run's own settings (its database, Redis, SMTP): the test process stays out of that database.

Commands (each prints one JSON document on stdout):
  setup <octosim.json>  enlist the instances, people, the shared variable set and its
                        subscribers, the group and its first grants, an API token
  settled               whether the work has caught up (polled while settling)
  check <sim_base_url>  the verdicts, against octosim's ground truth
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django

django.setup()

from django.apps import apps  # noqa: E402
from django.utils import timezone  # noqa: E402

from identity.models import (  # noqa: E402
    Grant,
    GrantTarget,
    Group,
    ManagedTeam,
    Role,
    SyncState,
    User,
)
from identity.services import create_group, grant  # noqa: E402
from identity.services.tokens import create_token  # noqa: E402
from monitoring.models import (  # noqa: E402
    Alert,
    DeploymentDay,
    DeploymentTask,
    Notification,
    SpaceDay,
    SpaceTotal,
    StatusFlip,
)
from monitoring.services import deployments  # noqa: E402
from odcm.clients import client_for  # noqa: E402
from odcm.crypto import seal  # noqa: E402
from odcm.work import Leased  # noqa: E402
from sharing.models import SharedItem, Subscription  # noqa: E402
from sharing.services import items, subscriptions, trusts  # noqa: E402
from spaces.models import Instance, Space  # noqa: E402

ITEM = "Chaos Common"
GROUP = "Chaos crew"
# People octosim knows (octosim/seed.py PEOPLE): the managed teams can hold them.
CREW = ["alice", "bob", "carol", "dave", "erin"]
OWNERS = 5
FIRST_GRANTS = 20  # instances granted at setup; the others one by one during the run


def content(n: int) -> dict[str, Any]:
    return {
        "variables": [
            {"name": "Chaos.Revision", "value": str(n)},
            {"name": "Region", "value": "emea", "scope": {"roles": ["web"]}},
        ]
    }


def timing(what: str, started: float) -> None:
    print(f"timing: {what} {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)


def setup(sim_file: str) -> dict[str, Any]:
    started = time.monotonic()
    sims = json.loads(open(sim_file).read())  # noqa: SIM115, PTH123 - one small file
    # No passwords: nobody signs in (the API uses a token), and hashing costs seconds.
    admin = User.objects.create_superuser("ada", "ada@example.com", None)
    owners = [User.objects.create_user(f"owner{n}", f"owner{n}@example.com") for n in range(OWNERS)]
    crew = {name: User.objects.create_user(name, f"{name}@example.com") for name in CREW}
    instances = []
    for n, sim in enumerate(sims):
        inst = Instance(name=sim["slug"], slug=sim["slug"], base_url=sim["url"])
        seal(inst, "api_key", sim["api_key"])
        inst.save()
        inst.owners.set([owners[n % OWNERS]])
        for octopus_id, name in sorted(sim["spaces"].items()):
            Space.objects.create(
                instance=inst,
                octopus_id=octopus_id,
                name=f"{name} {sim['slug']}",
                slug=f"{sim['slug']}-{octopus_id.lower()}",
            )
        instances.append(inst)
    timing("setup instances", started)
    publisher = instances[0].spaces.get(octopus_id="Spaces-1")
    item = items.create_item(publisher, SharedItem.Kind.VARIABLE_SET, ITEM, actor=admin)
    items.save_revision(item, content(1), actor=admin)
    for inst in instances[1:]:
        for space in inst.spaces.all():
            trusts.accept(trusts.propose(publisher, space, actor=admin), actor=admin)
            subscriptions.subscribe(item, space, actor=admin)
    timing("setup subscriptions", started)
    group = create_group(name=GROUP, members=[crew["alice"]], actor=admin)
    for inst in instances[:FIRST_GRANTS]:
        grant(group, Role.VIEWER, instance=inst, actor=admin)
    token = create_token(admin, name="chaos")[1]
    timing("setup grants", started)
    return {
        "item": str(item.pk),
        "token": token,
        "group": str(group.pk),
        "crew": CREW,
        "ungranted": [str(inst.pk) for inst in instances[FIRST_GRANTS:]],
        "subscriptions": Subscription.objects.count(),
        "instances": len(instances),
    }


def claimed_rows() -> tuple[dict[str, int], int]:
    """Rows of every work model (odcm.work.Leased) whose claim is still live, and how many
    hold a claim that ran out (a killed worker's: free to take, nothing waits on them)."""
    now = timezone.now()
    live, lapsed = {}, 0
    for model in apps.get_models():
        if issubclass(model, Leased):
            rows = model._default_manager.filter(claim_token__isnull=False)
            held = rows.filter(claimed_until__gte=now).count()
            lapsed += rows.filter(claimed_until__lt=now).count()
            if held:
                live[model._meta.label] = held
    return live, lapsed


def settled() -> dict[str, Any]:
    newest = max(SharedItem.objects.get(name=ITEM).revisions.values_list("number", flat=True))
    behind = Subscription.objects.exclude(
        status=Subscription.Status.IN_SYNC, delivered_revision=newest
    ).count()
    waiting = {
        "subscriptions": behind,
        "grant_targets": GrantTarget.objects.exclude(state=SyncState.APPLIED).count(),
        "teams": ManagedTeam.objects.exclude(state=SyncState.APPLIED).count(),
        "alerts": Alert.objects.filter(state=Alert.State.NEW).count(),
        "emails": Notification.objects.exclude(state=Notification.State.SENT).count(),
        "not_online": Instance.objects.exclude(status=Instance.Status.ONLINE).count(),
    }
    return {"done": not any(waiting.values()), "waiting": waiting}


def _flip_checks(windows: dict[str, list[list[float]]]) -> tuple[dict[str, int], list[str]]:
    failures: list[str] = []
    flips_by_instance: dict[Any, list[StatusFlip]] = defaultdict(list)
    for flip in StatusFlip.objects.order_by("at", "id").select_related("instance"):
        flips_by_instance[flip.instance_id].append(flip)
    counted = Counter[str]()
    for inst in Instance.objects.all():
        flips = flips_by_instance.get(inst.pk, [])
        counted["flips"] += len(flips)
        for before, after in zip(flips, flips[1:], strict=False):
            if after.from_status != before.to_status or after.from_status == after.to_status:
                failures.append(
                    f"{inst.slug}: flip {before.from_status}->{before.to_status} then "
                    f"{after.from_status}->{after.to_status} (a doubled or lost flip)"
                )
        if flips and flips[-1].to_status != inst.status:
            failures.append(f"{inst.slug}: last flip says {flips[-1].to_status}, row {inst.status}")
        # Each offline spell the driver held until ODCM saw it: exactly one flip to offline.
        for start, end in windows.get(inst.slug, []):
            inside = [
                f
                for f in flips
                if f.to_status == Instance.Status.OFFLINE and start <= f.at.timestamp() <= end
            ]
            counted["offline_spells"] += 1
            if len(inside) != 1:
                failures.append(f"{inst.slug}: {len(inside)} flips to offline in one spell")
    alerted = Alert.objects.filter(flip__isnull=False).count()
    counted["alerts"] = alerted
    return dict(counted), failures


def _email_checks(inbox: list[dict[str, str]]) -> tuple[dict[str, int], list[str]]:
    failures: list[str] = []
    notes = {n.message_id.strip("<>"): n for n in Notification.objects.select_related("alert")}
    received: dict[str, set[str]] = defaultdict(set)
    copies = Counter[str]()
    for message in inbox:
        received[message["message_id"]].add(message["to"])
        copies[message["message_id"]] += 1
    for message_id, recipients in received.items():
        note = notes.get(message_id)
        if note is None:
            failures.append(f"an email no notification row knows: {message_id}")
        elif recipients != {note.email}:
            failures.append(f"{message_id} went to {sorted(recipients)}, not {note.email}")
    per_recipient = Counter[tuple[Any, str]]()
    for note in notes.values():
        per_recipient[(note.alert_id, note.email)] += 1
        if note.state != Notification.State.SENT:
            failures.append(f"notification {note.pk} is {note.state}")
        elif note.message_id.strip("<>") not in received:
            failures.append(f"notification {note.pk} sent but not in the inbox")
    failures += [
        f"alert {alert} has {n} notifications for {email}"
        for (alert, email), n in per_recipient.items()
        if n != 1
    ]
    # Every flip that alerts reached each of its people: the admin and the instance's owner.
    for alert in Alert.objects.filter(flip__isnull=False).prefetch_related("notifications"):
        emails = {n.email for n in alert.notifications.all()}
        if alert.kind in (Alert.Kind.OFFLINE, Alert.Kind.RECOVERED) and len(emails) != 2:
            failures.append(f"{alert.kind} alert {alert.pk} told {sorted(emails)}")
    resent = sum(n - 1 for n in copies.values())
    return {"emails": len(inbox), "emails_resent": resent, "notifications": len(notes)}, failures


def _sharing_checks() -> tuple[dict[str, int], list[str]]:
    failures: list[str] = []
    item = SharedItem.objects.get(name=ITEM)
    newest = max(item.revisions.values_list("number", flat=True))
    subs = list(Subscription.objects.filter(item=item).select_related("space__instance"))
    by_instance: dict[Any, list[Subscription]] = defaultdict(list)
    for sub in subs:
        by_instance[sub.space.instance].append(sub)
        if (sub.status, sub.delivered_revision) != (Subscription.Status.IN_SYNC, newest):
            failures.append(f"{sub.space.slug}: {sub.status} at r{sub.delivered_revision}")

    def look(inst: Instance, inst_subs: list[Subscription]) -> list[str]:
        found_failures = []
        with client_for(inst) as client:
            for sub in inst_subs:
                space = sub.space.octopus_id
                found = client.get_all(f"/api/{space}/libraryvariablesets")
                copies = [x for x in found if x["Name"] == ITEM]
                if len(copies) != 1:
                    found_failures.append(f"{sub.space.slug}: {len(copies)} copies in Octopus")
                    continue
                doc = client.get(f"/api/{space}/variables/{copies[0]['VariableSetId']}")
                values = {v["Name"]: v["Value"] for v in doc["Variables"]}
                if values.get("Chaos.Revision") != str(newest):
                    found_failures.append(
                        f"{sub.space.slug}: Octopus holds {values}, not r{newest}"
                    )
        return found_failures

    # Octopus calls only in the threads (rows loaded above): one instance each, 8 at a time.
    with ThreadPoolExecutor(8) as pool:
        for found_failures in pool.map(lambda pair: look(*pair), by_instance.items()):
            failures += found_failures
    return {"subscriptions": len(subs), "newest_revision": newest}, failures


def _grant_checks() -> tuple[dict[str, int], list[str]]:
    failures: list[str] = []
    group = Group.objects.get(name=GROUP)
    members = sorted(group.members.values_list("username", flat=True))
    not_applied = GrantTarget.objects.exclude(state=SyncState.APPLIED).count()
    if not_applied:
        failures.append(f"{not_applied} grant targets not applied")
    grants = list(
        Grant.objects.filter(group=group, revoked_at__isnull=True).select_related("instance")
    )
    work = [(g.instance, list(g.instance.spaces.all())) for g in grants if g.instance is not None]
    # What ODCM believes of each space's team, shown beside a failure.
    believed = {
        mt.space_id: f"row {mt.state} v{mt.version}/applied v{mt.applied_version} {mt.last_error}"
        for mt in ManagedTeam.objects.filter(group=group)
    }

    def look(inst: Instance, spaces: list[Space]) -> list[str]:
        found_failures = []
        with client_for(inst) as client:
            users = {u["Id"]: u["Username"] for u in client.get_all("/api/users")}
            for space in spaces:
                teams = [
                    t
                    for t in client.get_all(
                        "/api/teams", {"spaces": space.octopus_id, "includeSystem": "false"}
                    )
                    if t["Name"].startswith("ODCM · ") and GROUP in t["Name"]
                ]
                if len(teams) != 1:
                    found_failures.append(f"{space.slug}: {len(teams)} managed teams")
                    continue
                held = sorted(users.get(u, u) for u in teams[0]["MemberUserIds"])
                if held != members:
                    found_failures.append(
                        f"{space.slug}: team holds {held}, group {members}; "
                        f"{believed.get(space.pk, 'no row')}"
                    )
        return found_failures

    with ThreadPoolExecutor(8) as pool:
        for found_failures in pool.map(lambda pair: look(*pair), work):
            failures += found_failures
    checked = sum(len(spaces) for _, spaces in work)
    return {"grants": len(grants), "team_spaces": checked, "members": len(members)}, failures


def _truth(control_url: str) -> dict[str, Any]:
    """octosim's ground truth of every instance (its control API)."""
    out = {}
    for inst in Instance.objects.all():
        url = f"{control_url}/instances/{inst.slug}/truth"
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url) as resp:
            out[inst.slug] = json.loads(resp.read())
    return out


FINISHED = ("Success", "Failed", "Canceled", "TimedOut")


def _finished(truth: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {
        (slug, space_id): sum(space["deployments_by_state"].get(s, 0) for s in FINISHED)
        for slug, inst in truth.items()
        for space_id, space in inst["spaces"].items()
    }


def _deployment_checks(control_url: str) -> tuple[dict[str, int], list[str]]:
    failures: list[str] = []
    # octosim's tasks keep finishing: pull, read the truth, pull again, and compare once the
    # truth held still across a pull (everything finished before it was pulled).
    expected: dict[tuple[str, str], int] = {}
    for _attempt in range(10):
        deployments.pull(list(deployments.pullable_spaces()))
        before = _finished(_truth(control_url))
        deployments.pull(list(deployments.pullable_spaces()))
        expected = _finished(_truth(control_url))
        if expected == before:
            break
    tasks = Counter(DeploymentTask.objects.values_list("space_id", flat=True))
    for space in Space.objects.select_related("instance"):
        octopus = expected[(space.instance.slug, space.octopus_id)]
        st = SpaceTotal.objects.filter(space=space).first()
        counted = st.succeeded + st.failed + st.canceled + st.timed_out if st else 0
        days = SpaceDay.objects.filter(space=space)
        by_day = sum(d.succeeded + d.failed + d.canceled + d.timed_out for d in days)
        envs = DeploymentDay.objects.filter(space=space)
        by_env = sum(d.succeeded + d.failed + d.canceled + d.timed_out for d in envs)
        if not octopus == counted == by_day == by_env == tasks[space.pk]:
            failures.append(
                f"{space.slug}: octopus {octopus}, total {counted}, days {by_day}, "
                f"environments {by_env}, task rows {tasks[space.pk]}"
            )
    return {
        "deployments": sum(tasks.values()),
        "deployments_octopus": sum(expected.values()),
    }, failures


def check(evidence_file: str) -> dict[str, Any]:
    evidence = json.loads(open(evidence_file).read())  # noqa: SIM115, PTH123
    figures: dict[str, int] = {}
    failures: dict[str, list[str]] = {}
    checks: dict[str, Callable[[], tuple[dict[str, int], list[str]]]] = {
        "flips": lambda: _flip_checks(evidence["offline_windows"]),
        "emails": lambda: _email_checks(evidence["inbox"]),
        "sharing": _sharing_checks,
        "grants": _grant_checks,
        "deployments": lambda: _deployment_checks(evidence["control_url"]),
    }
    for name, run in checks.items():
        started = time.monotonic()
        found, failed = run()
        timing(f"check {name}", started)
        figures.update(found)
        failures[name] = failed
    held, lapsed = claimed_rows()
    failures["claims"] = [f"{label}: {n} rows still claimed" for label, n in held.items()]
    figures["claims_lapsed"] = lapsed
    return {"figures": figures, "failures": failures}


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "setup":
        result = setup(args[0])
    elif command == "settled":
        result = settled()
    elif command == "check":
        result = check(args[0])
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
