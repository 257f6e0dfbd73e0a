// Drives octosim's release pipeline with Octopus Deploy's official TypeScript client and
// prints one JSON object with what it saw; tests/octosim/test_node_client.py asserts on it.
// Usage: node pipeline.js <instance url> <api key> <unique suffix> <work folder>
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const {
  Client,
  DeploymentProcessRepository,
  DeploymentRepository,
  EnvironmentRepository,
  LifecycleRepository,
  NewProject,
  PackageRepository,
  ProjectGroupRepository,
  ProjectRepository,
  ReleaseRepository,
  RunbookProcessRepository,
  RunbookRepository,
  RunbookRunRepository,
  RunbookSnapshotRepository,
  ServerTaskWaiter,
  SpaceServerTaskRepository,
  spaceScopedRoutePrefix,
} = require("@octopusdeploy/api-client");

const SPACE = "Default";

function packageStep(packageId) {
  return {
    Name: "Deploy web",
    Properties: { "Octopus.Action.TargetRoles": "web-server" },
    Actions: [
      {
        Name: "Deploy web",
        ActionType: "Octopus.TentaclePackage",
        Properties: { "Octopus.Action.Package.DownloadOnTentacle": "False" },
        Packages: [{ Name: "", PackageId: packageId, FeedId: "feeds-builtin" }],
      },
    ],
  };
}

function scriptStep(name) {
  return {
    Name: name,
    Actions: [
      {
        Name: name,
        ActionType: "Octopus.Script",
        Properties: { "Octopus.Action.Script.ScriptBody": "echo hi" },
      },
    ],
  };
}

// What an awaited call threw, as the test wants to see it (status and Octopus's words).
async function refusal(promise) {
  try {
    await promise;
    return { refused: false };
  } catch (err) {
    return { refused: true, status: err.StatusCode, message: String(err.message || err) };
  }
}

async function main() {
  const [instanceURL, apiKey, suffix, work] = process.argv.slice(2);
  const out = { steps: [] };
  const step = (name, value) => out.steps.push({ name, value });
  const client = await Client.create({
    instanceURL,
    apiKey,
    userAgentApp: "octosim-conformance",
    logging: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const get = (route, args) =>
    client.request(`${spaceScopedRoutePrefix}${route}`, { spaceName: SPACE, ...args });
  const put = (route, body, args) =>
    client.doUpdate(`${spaceScopedRoutePrefix}${route}`, body, { spaceName: SPACE, ...args });
  const post = (route, body, args) =>
    client.doCreate(`${spaceScopedRoutePrefix}${route}`, body, { spaceName: SPACE, ...args });

  // A lifecycle of three phases and a project of our own.
  const environments = (await new EnvironmentRepository(client, SPACE).list({ take: 100 })).Items;
  const envId = (name) => environments.find((e) => e.Name === name).Id;
  const lifecycle = await new LifecycleRepository(client, SPACE).create({
    Name: `Conformance lifecycle ${suffix}`,
    Phases: ["Development", "Test", "Production"].map((name) => ({
      Name: name,
      OptionalDeploymentTargets: [envId(name)],
      AutomaticDeploymentTargets: [],
      MinimumEnvironmentsBeforePromotion: 0,
      IsOptionalPhase: false,
    })),
  });
  const group = (await new ProjectGroupRepository(client, SPACE).list({ take: 1 })).Items[0];
  const projects = new ProjectRepository(client, SPACE);
  const project = await projects.create(NewProject(`Pipeline ${suffix}`, group, lifecycle));
  step("project", { Id: project.Id, DeploymentProcessId: project.DeploymentProcessId });

  // Package push and its hash.
  const packageId = `Conformance.Web${suffix}`;
  const files = ["1.0.0", "1.1.0"].map((version) => {
    const file = path.join(work, `${packageId}.${version}.zip`);
    fs.writeFileSync(file, `${packageId} ${version} ${"x".repeat(5000)}`);
    return file;
  });
  const packages = new PackageRepository(client, SPACE);
  await packages.push(files);
  const pushed = await packages.get(`packages-${packageId}.1.0.0`);
  const listed = await packages.list({ filter: packageId, take: 10 });
  step("packagePush", {
    Hash: pushed.Hash,
    localSha1: crypto.createHash("sha1").update(fs.readFileSync(files[0])).digest("hex"),
    PackageSizeBytes: pushed.PackageSizeBytes,
    localSize: fs.statSync(files[0]).size,
    Versions: listed.Items.map((p) => p.Version).sort(),
  });

  // A deployment process edit, then a stale edit.
  const processes = new DeploymentProcessRepository(client, SPACE);
  const original = await processes.get(project);
  const edit = JSON.parse(JSON.stringify(original));
  edit.Steps = [packageStep(packageId), scriptStep("Smoke test")];
  const saved = await processes.update(project, edit);
  const stale = JSON.parse(JSON.stringify(original));
  stale.Steps = [scriptStep("Stale")];
  step("processEdit", {
    originalVersion: original.Version,
    saved: { Version: saved.Version, Steps: saved.Steps.map((s) => s.Name) },
    readBack: (await processes.get(project)).Steps.map((s) => s.Name),
    stale: await refusal(processes.update(project, stale)),
    afterStale: (await processes.get(project)).Steps.map((s) => s.Name),
  });

  // Project variables round-trip.
  const variables = await get("/variables/{id}", { id: project.VariableSetId });
  variables.Variables.push({ Name: "Greeting", Value: "hello", Type: "String", Scope: {} });
  const savedVars = await put("/variables/{id}", variables, { id: project.VariableSetId });
  step("variables", {
    Version: [variables.Version, savedVars.Version],
    Names: savedVars.Variables.map((v) => v.Name),
  });

  // A release through the executions API with package versions, and its frozen snapshots.
  const releases = new ReleaseRepository(client, SPACE);
  const created = await releases.create({
    spaceName: SPACE,
    ProjectName: project.Name,
    ReleaseVersion: "1.0.0",
    Packages: ["Deploy web:1.0.0"],
  });
  const release = await releases.get(created.ReleaseId);
  const snapshot = async () => ({
    process: await get("/deploymentprocesses/{id}", {
      id: release.ProjectDeploymentProcessSnapshotId,
    }),
    variables: await get("/variables/{id}", { id: release.ProjectVariableSetSnapshotId }),
  });
  const before = await snapshot();
  const live = await processes.get(project);
  live.Steps.push(scriptStep("Added later"));
  await processes.update(project, live);
  const liveVars = await get("/variables/{id}", { id: project.VariableSetId });
  liveVars.Variables = [];
  await put("/variables/{id}", liveVars, { id: project.VariableSetId });
  const after = await snapshot();
  step("release", {
    created,
    Version: release.Version,
    SelectedPackages: release.SelectedPackages.map((p) => [p.ActionName, p.Version]),
    snapshotsEqual: JSON.stringify(before) === JSON.stringify(after),
    snapshotSteps: after.process.Steps.map((s) => s.Name),
    snapshotVariables: after.variables.Variables.map((v) => v.Name),
    liveSteps: (await processes.get(project)).Steps.map((s) => s.Name),
  });

  // A channel and a release in it.
  const channel = await post("/channels", {
    Name: "Hotfix",
    ProjectId: project.Id,
    LifecycleId: null,
    IsDefault: false,
    Rules: [],
    Description: "from node",
  });
  const hotfix = await releases.create({
    spaceName: SPACE,
    ProjectName: project.Name,
    ChannelName: "Hotfix",
    ReleaseVersion: "1.0.1-hotfix",
    PackageVersion: "1.1.0",
  });
  const hotfixRelease = await releases.get(hotfix.ReleaseId);
  step("channel", {
    channel: { Id: channel.Id, Name: channel.Name, ProjectId: channel.ProjectId },
    releaseChannelId: hotfixRelease.ChannelId,
    SelectedPackages: hotfixRelease.SelectedPackages.map((p) => [p.ActionName, p.Version]),
  });

  // A deployment and its task to completion, then a deployment the lifecycle refuses.
  const deployments = new DeploymentRepository(client, SPACE);
  const deployed = await deployments.create({
    spaceName: SPACE,
    ProjectName: project.Name,
    ReleaseVersion: "1.0.0",
    EnvironmentNames: ["Development"],
  });
  const taskIds = deployed.DeploymentServerTasks.map((t) => t.ServerTaskId);
  const finished = await new ServerTaskWaiter(client, SPACE).waitForServerTasksToComplete(
    taskIds,
    100,
    60000,
  );
  const tasks = new SpaceServerTaskRepository(client, SPACE);
  const deployment = await deployments.get(deployed.DeploymentServerTasks[0].DeploymentId);
  const raw = await tasks.getRaw(taskIds[0]);
  step("deployment", {
    DeploymentServerTasks: deployed.DeploymentServerTasks,
    deploymentTaskId: deployment.TaskId,
    deploymentReleaseId: deployment.ReleaseId,
    finished: finished.map((t) => ({ Id: t.Id, State: t.State, IsCompleted: t.IsCompleted })),
    detailsState: (await tasks.getDetails(taskIds[0])).Task.State,
    rawHasSteps: ["Deploy web", "Smoke test"].map((name) => raw.includes(name)),
  });
  step(
    "refusedDeployment",
    await refusal(
      deployments.create({
        spaceName: SPACE,
        ProjectName: project.Name,
        ReleaseVersion: "1.0.0",
        EnvironmentNames: ["Production"],
      }),
    ),
  );

  // A runbook edited, published and run (the live process changes after publishing).
  const runbooks = new RunbookRepository(client, SPACE, project);
  const runbook = await runbooks.create({
    Name: "Restart",
    ProjectId: project.Id,
    Description: "v1",
    MultiTenancyMode: "Untenanted",
    EnvironmentScope: "All",
  });
  const editedRunbook = await runbooks.modify({ ...runbook, Description: "restarts the site" });
  const runbookProcesses = new RunbookProcessRepository(client, SPACE, project);
  const runbookProcess = await runbookProcesses.get(runbook);
  runbookProcess.Steps = [scriptStep("Stop site"), scriptStep("Start site")];
  const savedRunbookProcess = await runbookProcesses.update(runbookProcess);
  const snapshotOfRunbook = await new RunbookSnapshotRepository(client, SPACE, project).create(
    runbook,
    `Snapshot ${suffix}`,
    true,
    "from node",
  );
  const published = await runbooks.get(runbook.Id);
  const laterProcess = await runbookProcesses.get(runbook);
  laterProcess.Steps.push(scriptStep("Added after publishing"));
  await runbookProcesses.update(laterProcess);
  const runbookRuns = new RunbookRunRepository(client, SPACE);
  const started = await runbookRuns.create({
    spaceName: SPACE,
    ProjectName: project.Name,
    RunbookName: "Restart",
    EnvironmentNames: ["Development"],
  });
  const runTaskIds = started.RunbookRunServerTasks.map((t) => t.ServerTaskId);
  const runFinished = await new ServerTaskWaiter(client, SPACE).waitForServerTasksToComplete(
    runTaskIds,
    100,
    60000,
  );
  const runbookRun = await runbookRuns.get(started.RunbookRunServerTasks[0].RunbookRunId);
  const runLog = await tasks.getRaw(runTaskIds[0]);
  step("runbook", {
    runbook: { Id: runbook.Id, ProjectId: runbook.ProjectId, Name: runbook.Name },
    editedDescription: editedRunbook.Description,
    processSteps: savedRunbookProcess.Steps.map((s) => s.Name),
    snapshot: {
      Id: snapshotOfRunbook.Id,
      Name: snapshotOfRunbook.Name,
      Notes: snapshotOfRunbook.Notes,
    },
    publishedSnapshotId: published.PublishedRunbookSnapshotId,
    finished: runFinished.map((t) => ({ Id: t.Id, State: t.State })),
    run: { RunbookSnapshotId: runbookRun.RunbookSnapshotId, TaskId: runbookRun.TaskId },
    logHas: ["Stop site", "Start site", "Added after publishing"].map((n) => runLog.includes(n)),
  });

  // The task waiter leaves its timeout timer running; exit rather than wait for it.
  process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0));
}

main().catch((err) => {
  const detail = err && err.response ? err.response.data : undefined;
  process.stdout.write(
    JSON.stringify({ error: String(err && err.message ? err.message : err), detail }) + "\n",
  );
  process.exit(1);
});
