"""Deterministic generation of an instance's content from its seed.

The same seed and slug always give the same spaces, names, ids, counts and outcomes;
timestamps are relative to the moment the instance was created (``Instance.anchor``).
"""

from __future__ import annotations

import random
import uuid

from octosim import resources as R
from octosim.instance import Instance
from octosim.state import DeploymentRec, Doc, InstanceState, ReleaseRec, TaskRec

DAY = 86400.0
HISTORY_DAYS = 90
# The longest a generated queued task waits (seconds): under ODCM's default queue-alert
# threshold of 15 minutes.
QUEUE_WAIT_MAX = 12 * 60

SPACE_NAMES = [
    "Platform", "Payments", "Data", "Mobile", "Identity", "Retail", "Logistics", "Search",
    "Analytics", "Marketing", "Infrastructure", "Security",
]  # fmt: skip
EXTRA_ENVIRONMENTS = ["Staging", "QA", "UAT", "Performance", "Disaster Recovery"]
GROUP_NAMES = ["Web", "Services", "Infrastructure", "Data", "Integrations"]
PROJECT_NAMES = [
    "OctoFX", "Payments API", "Web Portal", "Billing Worker", "Customer Portal", "Auth Service",
    "Inventory API", "Reporting", "Notification Hub", "Search Indexer", "Mobile Backend",
    "Order Service", "Pricing Engine", "Audit Log", "Gateway", "Scheduler", "Data Pipeline",
    "Admin Console",
]  # fmt: skip
ROLES = ["web-server", "app-server", "db-server", "worker", "k8s"]
TENANT_NAMES = [
    "Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises",
    "Wonka",
]  # fmt: skip
LVS_NAMES = ["Common Settings", "Database", "Notifications", "Logging", "Monitoring"]
TEMPLATE_NAMES = [
    "Acme - Health probe",
    "Acme - Warm cache",
    "Acme - Notify chat",
    "Acme - Smoke test",
]
PEOPLE = [
    ("alice", "Alice Archer"), ("bob", "Bob Baker"), ("carol", "Carol Chen"),
    ("dave", "Dave Dunn"), ("erin", "Erin Evans"),
]  # fmt: skip
NO_PERMISSION_USERNAME = "no-permissions"
HEALTH_WEIGHTS = (("Healthy", 70), ("HasWarnings", 10), ("Unhealthy", 10), ("Unavailable", 10))
OUTCOME_WEIGHTS = (("Success", 80), ("Failed", 11), ("Canceled", 5), ("TimedOut", 4))

USER_ROLES = [
    ("userroles-systemadministrator", "System administrator", "Can do anything system-wide.",
     [], ["AdministerSystem", "SpaceCreate", "SpaceEdit", "SpaceDelete", "SpaceView", "TeamCreate",
          "TeamEdit", "TeamDelete", "TeamView", "UserEdit", "UserView", "UserRoleEdit",
          "UserRoleView"]),
    ("userroles-systemmanager", "System manager", "Manages spaces, teams and users.",
     [], ["SpaceCreate", "SpaceEdit", "SpaceDelete", "SpaceView", "TeamCreate", "TeamEdit",
          "TeamDelete", "TeamView", "UserEdit", "UserView", "UserRoleView"]),
    ("userroles-spacemanager", "Space manager", "Can do everything within a space.",
     ["ProjectCreate", "ProjectEdit", "ProjectDelete", "ProjectView", "EnvironmentCreate",
      "EnvironmentEdit", "EnvironmentDelete", "EnvironmentView", "LibraryVariableSetCreate",
      "LibraryVariableSetEdit", "LibraryVariableSetDelete", "LibraryVariableSetView",
      "ActionTemplateCreate", "ActionTemplateEdit", "ActionTemplateDelete", "ActionTemplateView",
      "VariableEdit", "VariableView", "TeamEdit", "TeamView", "TaskView", "DeploymentCreate"], []),
    ("userroles-projectdeployer", "Project deployer", "Can deploy releases of projects.",
     ["ProjectView", "DeploymentCreate", "DeploymentView", "EnvironmentView", "TaskView",
      "ReleaseView", "VariableView"], []),
    ("userroles-deploymentcreator", "Deployment creator", "Can create deployments.",
     ["ProjectView", "DeploymentCreate", "DeploymentView", "EnvironmentView", "ReleaseView",
      "TaskView"], []),
    ("userroles-projectviewer", "Project viewer", "Read-only access to projects.",
     ["ProjectView", "EnvironmentView", "TaskView", "ReleaseView", "DeploymentView"], []),
    ("userroles-projectcontributor", "Project contributor", "Can edit projects but not deploy.",
     ["ProjectView", "ProjectEdit", "ProcessEdit", "VariableEdit", "VariableView",
      "LibraryVariableSetView", "ActionTemplateView"], []),
    ("userroles-releasecreator", "Release creator", "Can create releases.",
     ["ProjectView", "ReleaseCreate", "ReleaseView", "FeedView"], []),
    ("userroles-packagepublisher", "Package publisher", "Can push packages to the built-in feed.",
     ["BuiltInFeedPush", "FeedView"], []),
    ("userroles-environmentmanager", "Environment manager", "Manages environments and targets.",
     ["EnvironmentCreate", "EnvironmentEdit", "EnvironmentDelete", "EnvironmentView",
      "MachineCreate", "MachineEdit", "MachineDelete", "MachineView"], []),
    ("userroles-tenantmanager", "Tenant manager", "Manages tenants.",
     ["TenantCreate", "TenantEdit", "TenantDelete", "TenantView"], []),
]  # fmt: skip

COMMUNITY_TEMPLATES = [
    ("HTTP - Test URL", "Makes a GET request to a URL and checks the status code.", 12),
    ("Slack - Send Simple Notification", "Posts a message to a Slack channel.", 15),
    ("IIS AppPool - Start", "Starts an IIS application pool.", 7),
    ("SQL - Execute Script", "Runs a SQL script against a database.", 9),
    ("File System - Clean Directory", "Removes files older than a given age.", 5),
    ("Windows Service - Stop", "Stops a Windows service.", 11),
    ("Kubernetes - Rollout Status", "Waits for a Kubernetes deployment rollout.", 3),
    ("Teams - Post a message", "Posts a message to a Microsoft Teams channel.", 8),
    ("Email - Send summary", "Sends a deployment summary email.", 4),
    ("Azure - Swap Slots", "Swaps two Azure Web App deployment slots.", 6),
]


def _pick(rng: random.Random, weights: tuple[tuple[str, int], ...]) -> str:
    names = [name for name, _ in weights]
    return rng.choices(names, weights=[w for _, w in weights])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate(inst: Instance) -> InstanceState:
    rng = random.Random(f"octosim/{inst.seed}/{inst.slug}")
    st = InstanceState()
    st.shape = {k: v for k, v in (("projects", inst.projects), ("steps", inst.steps)) if v}
    _system(st, rng)
    for index in range(inst.spaces_count):
        ident = st.next_id("Spaces")
        name = "Default" if index == 0 else SPACE_NAMES[(index - 1) % len(SPACE_NAMES)]
        if index > len(SPACE_NAMES):
            name = f"{name} {index}"
        st.add_space(R.space(ident, name, is_default=index == 0, description=f"{name} space"))
        add_space_teams(st, ident, members=["Users-1"])
        _space_content(st, rng, ident, inst.anchor)
    _stamp_all(st, rng, inst.anchor)
    # added after the rest (and stamped without the rng) so earlier content is unchanged
    ensure_no_permission_user(st, inst.anchor - HISTORY_DAYS * DAY)
    for space_id in st.spaces:
        add_space_references(st, space_id)
    inst.set_state(st)
    from octosim.history import seed_space  # local: history uses the API's services

    for number, space_id in enumerate(list(st.spaces)):
        seed_space(inst, space_id, inst.anchor, stuck=number == 0)
    return st


def ensure_no_permission_user(st: InstanceState, when: float) -> str:
    """The owner of the no-permission API key: a user in no team (besides Everyone).
    Created if missing (a state file written before it existed); returns its id."""
    users = st.sys("users")
    for doc in users.values():
        if doc["Username"] == NO_PERMISSION_USERNAME:
            return str(doc["Id"])
    ident = st.next_id("Users")
    users[ident] = R.stamp(
        R.user(ident, NO_PERMISSION_USERNAME, "No permissions", service=True), "admin", when
    )
    return ident


def _stamp_all(st: InstanceState, rng: random.Random, anchor: float) -> None:
    """Give every generated document a plausible last change in the last 90 days."""
    people = ["admin", "alice", "bob", "carol"]
    docs: list[Doc] = list(st.spaces.values()) + list(st.variable_sets.values())
    for collections in st.space_docs.values():
        for coll in collections.values():
            docs.extend(coll.values())
    for coll in st.system.values():
        docs.extend(coll.values())
    for doc in docs:
        if "LastModifiedOn" in doc and doc["LastModifiedOn"] is None:
            R.stamp(doc, rng.choice(people), anchor - rng.uniform(DAY, HISTORY_DAYS * DAY))


def _system(st: InstanceState, rng: random.Random) -> None:
    users = st.sys("users")
    users["Users-1"] = R.user("Users-1", "admin", "Administrator")
    users["Users-2"] = R.user("Users-2", "viewer", "Read-only automation", service=True)
    for number, (username, display) in enumerate(PEOPLE, start=3):
        ident = f"Users-{number}"
        users[ident] = R.user(ident, username, display)
    st.counters["Users"] = 2 + len(PEOPLE)
    roles = st.sys("userroles")
    for ident, name, desc, space_perms, sys_perms in USER_ROLES:
        roles[ident] = R.user_role(ident, name, desc, space_perms, sys_perms)
    teams = st.sys("teams")
    teams["teams-everyone"] = R.team("teams-everyone", "Everyone", space_id=None, builtin=True)
    teams["teams-administrators"] = R.team(
        "teams-administrators",
        "Octopus Administrators",
        space_id=None,
        members=["Users-1"],
        builtin=True,
    )
    teams["teams-managers"] = R.team(
        "teams-managers", "Octopus Managers", space_id=None, members=["Users-3"], builtin=True
    )
    srs = st.sys("scopeduserroles")
    for team_id, role_id in (
        ("teams-administrators", "userroles-systemadministrator"),
        ("teams-managers", "userroles-systemmanager"),
    ):
        ident = st.next_id("ScopedUserRoles")
        srs[ident] = R.scoped_user_role(ident, team_id, role_id, None)
    community = st.sys("communityactiontemplates")
    for name, desc, version in COMMUNITY_TEMPLATES:
        ident = st.next_id("CommunityActionTemplates")
        community[ident] = {
            "Id": ident,
            "Name": name,
            "Type": "Octopus.Script",
            "Author": rng.choice(["octopus", "community", "bobjwalker", "harrisonmeister"]),
            "Description": desc,
            "Website": f"https://library.octopus.com/step-templates/{_uuid(rng)}",
            "HistoryUrl": "https://github.com/OctopusDeploy/Library/commits/master/step-templates",
            "Version": version,
            "Parameters": [R.parameter("Url", "URL"), R.parameter("Timeout", "Timeout", "60")],
            "Properties": {
                "Octopus.Action.Script.ScriptSource": "Inline",
                "Octopus.Action.Script.Syntax": "PowerShell",
                "Octopus.Action.Script.ScriptBody": f"Write-Host '{name}'",
            },
        }


def add_space_teams(st: InstanceState, space_id: str, members: list[str]) -> None:
    """The built-in space managers team Octopus creates with every space."""
    team_id = f"teams-spacemanagers-{space_id}"
    st.sys("teams")[team_id] = R.team(
        team_id, "Space Managers", space_id=space_id, members=members, builtin=True
    )
    ident = st.next_id("ScopedUserRoles")
    st.sys("scopeduserroles")[ident] = R.scoped_user_role(
        ident, team_id, "userroles-spacemanager", space_id
    )


# Accounts, certificates and worker pools (octosim/api_references.py): what variables of
# those types point at.
REFERENCE_COLLECTIONS = ("accounts", "certificates", "workerpools")

# (collection, id prefix, name, extra fields): the same names in every space, as an
# organisation that shares variables across spaces would have; ids differ per space.
SEEDED: tuple[tuple[str, str, str, Doc], ...] = (
    ("workerpools", "WorkerPools", "Default Worker Pool",
     {"IsDefault": True, "WorkerPoolType": "StaticWorkerPool", "SortOrder": 1}),
    ("workerpools", "WorkerPools", "Hosted Ubuntu",
     {"IsDefault": False, "WorkerPoolType": "DynamicWorkerPool", "SortOrder": 2}),
    ("accounts", "Accounts", "AWS Production", {"AccountType": "AmazonWebServicesAccount"}),
    ("accounts", "Accounts", "Azure Subscription", {"AccountType": "AzureServicePrincipal"}),
    ("accounts", "Accounts", "Deploy User", {"AccountType": "UsernamePassword"}),
    ("certificates", "Certificates", "Wildcard TLS",
     {"SubjectCommonName": "*.example.com", "Thumbprint": "A1B2C3D4E5F6", "Archived": None}),
)  # fmt: skip


def add_space_references(st: InstanceState, space_id: str) -> None:
    """Give a space the seeded accounts, certificates and worker pools it lacks, by name.

    By name, not "once per space": a new space already has its default worker pool
    (``add_space_defaults``), and seeding twice must not add a second of anything.
    """
    for collection, prefix, name, extra in SEEDED:
        if any(d.get("Name") == name for d in st.col(space_id, collection).values()):
            continue
        ident = st.next_id(prefix)
        st.col(space_id, collection)[ident] = {
            "Id": ident,
            "Name": name,
            # certificates have Notes where the others have a Description (as in Octopus)
            ("Notes" if collection == "certificates" else "Description"): "",
            "SpaceId": space_id,
            **extra,
        }


def add_space_defaults(st: InstanceState, space_id: str) -> None:
    """What a new, empty space contains: a default lifecycle, group and built-in feed."""
    lc = R.lifecycle(st, space_id, "Default Lifecycle", [])
    st.col(space_id, "lifecycles")[lc["Id"]] = lc
    group = R.project_group(st, space_id, "Default Project Group")
    st.col(space_id, "projectgroups")[group["Id"]] = group
    builtin = R.feed("feeds-builtin", space_id, "Octopus Server (built-in)", "BuiltIn")
    st.col(space_id, "feeds")["feeds-builtin"] = builtin
    # Octopus gives every space a default (static) worker pool
    pool = {**R.worker_pool_doc(st, space_id, "Default Worker Pool"), "IsDefault": True}
    st.col(space_id, "workerpools")[pool["Id"]] = pool


def _space_content(st: InstanceState, rng: random.Random, space_id: str, anchor: float) -> None:
    add_space_defaults(st, space_id)
    env_docs = _environments(st, rng, space_id)
    projects = _projects(st, rng, space_id, env_docs)
    _tenants_and_machines(st, rng, space_id, env_docs, projects)
    _templates_and_team(st, rng, space_id, [e["Id"] for e in env_docs])
    _history(st, rng, space_id, projects, env_docs, anchor)


def _environments(st: InstanceState, rng: random.Random, space_id: str) -> list[Doc]:
    """Environments, the lifecycles that promote through them and a NuGet feed."""
    col = st.col
    names = ["Development", "Test", "Production"]
    names[2:2] = rng.sample(EXTRA_ENVIRONMENTS, rng.randint(0, 3))
    env_docs = []
    for order, name in enumerate(names):
        env = R.environment(st, space_id, name, order)
        env["UseGuidedFailure"] = name == "Production"
        col(space_id, "environments")[env["Id"]] = env
        env_docs.append(env)
    default_lc = next(iter(col(space_id, "lifecycles").values()))
    default_lc["Phases"] = [R.phase(e["Name"], [e["Id"]]) for e in env_docs]
    hotfix = R.lifecycle(st, space_id, "Hotfix", [R.phase("Production", [env_docs[-1]["Id"]])])
    col(space_id, "lifecycles")[hotfix["Id"]] = hotfix
    nuget = R.feed(
        st.next_id("Feeds"), space_id, "nuget.org", "NuGet", "https://api.nuget.org/v3/index.json"
    )
    col(space_id, "feeds")[nuget["Id"]] = nuget
    return env_docs


def _projects(
    st: InstanceState, rng: random.Random, space_id: str, env_docs: list[Doc]
) -> list[Doc]:
    """Project groups, library variable sets and the projects that use them."""
    col = st.col
    groups = list(col(space_id, "projectgroups").values())
    for name in rng.sample(GROUP_NAMES, rng.randint(1, 3)):
        group = R.project_group(st, space_id, name, f"{name} projects")
        col(space_id, "projectgroups")[group["Id"]] = group
        groups.append(group)
    lvs_ids = _library_sets(st, rng, space_id, env_docs)
    lifecycle_id = next(iter(col(space_id, "lifecycles")))
    projects = []
    wanted = st.shape.get("projects")
    if wanted:  # a configured size (--projects): the names repeat with a number
        names = [
            PROJECT_NAMES[i % len(PROJECT_NAMES)]
            + (f" {i // len(PROJECT_NAMES) + 1}" if i >= len(PROJECT_NAMES) else "")
            for i in range(wanted)
        ]
    else:
        names = rng.sample(PROJECT_NAMES, rng.randint(4, 10))
    for name in names:
        proj = R.project(
            st,
            space_id,
            name,
            group_id=rng.choice(groups)["Id"],
            lifecycle_id=lifecycle_id,
            description=f"{name} ({space_id})",
            library_sets=rng.sample(lvs_ids, rng.randint(0, len(lvs_ids))),
        )
        proj["IsDisabled"] = rng.random() < 0.08
        col(space_id, "projects")[proj["Id"]] = proj
        projects.append(proj)
        vs = st.variable_sets[proj["VariableSetId"]]
        vs["Variables"] = [
            R.variable("App.Name", name, ident=_uuid(rng)),
            R.variable("App.Port", str(rng.choice([80, 8080, 5000])), ident=_uuid(rng)),
        ]
        vs["Version"] = rng.randint(1, 6)
    return projects


def _templates_and_team(
    st: InstanceState, rng: random.Random, space_id: str, env_ids: list[str]
) -> None:
    for name in rng.sample(TEMPLATE_NAMES, rng.randint(1, 3)):
        tpl = R.action_template(
            st,
            space_id,
            name,
            description=f"{name} (custom)",
            parameters=[R.parameter("Target.Url", "Target URL")],
            version=rng.randint(1, 5),
        )
        st.col(space_id, "actiontemplates")[tpl["Id"]] = tpl
    team_id = st.next_id("Teams")
    members = [f"Users-{n}" for n in rng.sample(range(3, 3 + len(PEOPLE)), 2)]
    name = rng.choice(["Developers", "Operations", "QA"])
    st.sys("teams")[team_id] = R.team(team_id, name, space_id=space_id, members=members)
    sr_id = st.next_id("ScopedUserRoles")
    st.sys("scopeduserroles")[sr_id] = R.scoped_user_role(
        sr_id, team_id, "userroles-projectdeployer", space_id, environment_ids=env_ids[:-1]
    )


def _library_sets(
    st: InstanceState, rng: random.Random, space_id: str, envs: list[Doc]
) -> list[str]:
    ids = []
    for name in rng.sample(LVS_NAMES, rng.randint(1, 4)):
        lvs = R.library_variable_set(st, space_id, name, f"{name} shared by projects")
        st.col(space_id, "libraryvariablesets")[lvs["Id"]] = lvs
        ids.append(lvs["Id"])
        vs = st.variable_sets[lvs["VariableSetId"]]
        prefix = name.replace(" ", "")
        variables = [R.variable(f"{prefix}.Owner", "platform-team", ident=_uuid(rng))]
        for env in envs[:3]:
            variables.append(
                R.variable(
                    f"{prefix}.Url",
                    f"https://{env['Name'].lower()}.example.com/{prefix.lower()}",
                    scope={"Environment": [env["Id"]]},
                    ident=_uuid(rng),
                )
            )
        for index in range(rng.randint(1, 2)):
            variables.append(
                R.variable(
                    f"{prefix}.Secret{index + 1}",
                    f"s3cr3t-{rng.getrandbits(40):x}",
                    sensitive=True,
                    ident=_uuid(rng),
                )
            )
        vs["Variables"] = variables
        vs["Version"] = rng.randint(1, 9)
    return ids


def _tenants_and_machines(
    st: InstanceState, rng: random.Random, space_id: str, envs: list[Doc], projects: list[Doc]
) -> None:
    env_ids = [e["Id"] for e in envs]
    tenant_ids = []
    for name in rng.sample(TENANT_NAMES, rng.randint(0, 5)):
        chosen = rng.sample(projects, min(len(projects), rng.randint(1, 3)))
        links = {p["Id"]: env_ids[-2:] for p in chosen}
        for proj in chosen:
            proj["TenantedDeploymentMode"] = "TenantedOrUntenanted"
        ten = R.tenant(st, space_id, name, links)
        st.col(space_id, "tenants")[ten["Id"]] = ten
        tenant_ids.append(ten["Id"])
    for index in range(rng.randint(3, 14)):
        env = rng.choice(envs)
        roles = rng.sample(ROLES, rng.randint(1, 2))
        name = f"{env['Name'][:4].lower()}-{roles[0]}-{index + 1:02d}"
        mach = R.machine(
            st,
            space_id,
            name,
            env_ids=[env["Id"]],
            roles=roles,
            health=_pick(rng, HEALTH_WEIGHTS),
            disabled=rng.random() < 0.05,
            tenant_ids=rng.sample(tenant_ids, min(len(tenant_ids), 1))
            if rng.random() < 0.3
            else [],
        )
        st.col(space_id, "machines")[mach["Id"]] = mach


def _history(
    st: InstanceState,
    rng: random.Random,
    space_id: str,
    projects: list[Doc],
    envs: list[Doc],
    anchor: float,
) -> None:
    """Releases and deployments over the last 90 days; a few still queued or running."""
    start = anchor - HISTORY_DAYS * DAY
    channels = {c["ProjectId"]: c["Id"] for c in st.col(space_id, "channels").values()}
    for proj in projects:
        count = rng.randint(2, 8)
        times = sorted(rng.uniform(start, anchor - DAY / 4) for _ in range(count))
        for number, assembled in enumerate(times, start=1):
            rel = ReleaseRec(
                st.next_id("Releases"),
                space_id,
                proj["Id"],
                channels[proj["Id"]],
                f"1.{number // 4}.{number}",
                assembled,
                f"Release {number} of {proj['Name']}",
            )
            st.releases[rel.id] = rel
            when = assembled + rng.uniform(60, 3600)
            for env in envs:
                if when >= anchor - 60:
                    break
                outcome = _pick(rng, OUTCOME_WEIGHTS)
                add_deployment(st, rng, rel, env, when, outcome=outcome)
                if outcome != "Success" or rng.random() < 0.35:
                    break
                when += rng.uniform(3600, 3 * DAY)
    # health checks of the space's targets, a few times a month
    for _ in range(rng.randint(3, 8)):
        queued = rng.uniform(start, anchor - 3600)
        task_id = st.next_id("ServerTasks")
        outcome = "Success" if rng.random() < 0.85 else "Failed"
        st.tasks[task_id] = TaskRec(
            task_id,
            space_id,
            "Health",
            "Check deployment target health",
            queued,
            queued + rng.uniform(1, 5),
            queued + rng.uniform(20, 120),
            outcome,
            error="One or more deployment targets were unavailable." if outcome == "Failed" else "",
        )
    # A little work in flight when the instance starts: one task executing, one or two queued
    # a few minutes ago. All of it moves on in the next minutes, as on a healthy server: no
    # queued task waits longer than QUEUE_WAIT_MAX, under ODCM's default queue-alert threshold
    # (ODCM_QUEUE_ALERT_MINUTES, 15), so a fresh demo fleet raises no queue alert.
    releases = [r for r in st.releases.values() if r.space_id == space_id]
    if releases:
        for index, state in enumerate(["Executing"] + ["Queued"] * rng.randint(1, 2)):
            rel = rng.choice(releases)
            when = anchor - rng.uniform(30, QUEUE_WAIT_MAX / 2 - 60) + index
            # Started (or to start) before the wait limit, finished some minutes later.
            start = (
                when + rng.uniform(1, 10)
                if state == "Executing"
                else anchor + rng.uniform(180, QUEUE_WAIT_MAX / 2)
            )
            finish = max(start, anchor) + rng.uniform(120, 600)
            add_deployment(
                st, rng, rel, rng.choice(envs), when, outcome=state, planned=(start, finish)
            )


def add_deployment(
    st: InstanceState,
    rng: random.Random,
    rel: ReleaseRec,
    env: Doc,
    queued: float,
    *,
    outcome: str,
    duration: float | None = None,
    planned: tuple[float, float] | None = None,
) -> DeploymentRec:
    """Record a deployment and its task.  ``outcome`` may be a final state, or
    "Executing"/"Queued" for work that never finishes on its own, unless ``planned`` gives
    its start and completion: then it is executing or queued now and succeeds then."""
    dep_id = st.next_id("Deployments")
    task_id = st.next_id("ServerTasks")
    users = st.sys("users")
    deployer = (
        users.get(rng.choice(["Users-1", "Users-3", "Users-4", "Users-5"])) or users["Users-1"]
    )
    proj = st.col(rel.space_id, "projects").get(rel.project_id)
    proj_name = proj["Name"] if proj else rel.project_id
    start, complete, final = (
        (*planned, "Success") if planned else _timing(rng, queued, outcome, duration)
    )
    error = {
        "Failed": "The deployment failed because one or more steps failed.",
        "TimedOut": "The task exceeded its maximum execution time.",
        "Canceled": "The task was canceled.",
    }.get(final, "")
    task = TaskRec(
        task_id,
        rel.space_id,
        "Deploy",
        f"Deploy {proj_name} release {rel.version} to {env['Name']}",
        queued,
        start,
        complete,
        final,
        deployment_id=dep_id,
        project_id=rel.project_id,
        environment_id=env["Id"],
        error=error,
    )
    dep = DeploymentRec(
        dep_id,
        rel.space_id,
        rel.project_id,
        env["Id"],
        rel.id,
        rel.channel_id,
        None,
        task_id,
        queued,
        deployer["Username"],
        deployer["Id"],
    )
    st.tasks[task_id] = task
    st.deployments[dep_id] = dep
    return dep


def _timing(
    rng: random.Random, queued: float, outcome: str, duration: float | None
) -> tuple[float | None, float | None, str]:
    """Planned start, completion and final state of a task queued at ``queued``."""
    if outcome == "Queued":
        return None, None, "Queued"
    if outcome == "Executing":
        return queued + rng.uniform(1, 10), None, "Executing"
    if outcome == "Canceled" and rng.random() < 0.3:
        return None, queued + rng.uniform(30, 600), "Canceled"  # canceled while queued
    start = queued + rng.uniform(1, 20)
    return start, start + (duration if duration is not None else rng.uniform(20, 900)), outcome
