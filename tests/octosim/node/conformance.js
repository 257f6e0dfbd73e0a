// Drives octosim with Octopus Deploy's official TypeScript client and prints one JSON
// object with what it saw; tests/octosim/test_node_client.py asserts on it.
// Usage: node conformance.js <instance url> <api key> <unique suffix>
"use strict";

const {
  Client,
  SpaceRepository,
  EnvironmentRepository,
  ProjectGroupRepository,
  ProjectRepository,
  LifecycleRepository,
  DeploymentRepository,
  SpaceServerTaskRepository,
  NewProject,
  userGetCurrent,
} = require("@octopusdeploy/api-client");

async function main() {
  const [instanceURL, apiKey, suffix] = process.argv.slice(2);
  const out = { steps: [] };
  const step = (name, value) => out.steps.push({ name, value });
  const client = await Client.create({
    instanceURL,
    apiKey,
    userAgentApp: "octosim-conformance",
    logging: { debug() {}, info() {}, warn() {}, error() {} },
  });

  const info = await client.getServerInformation();
  step("serverInformation", info);

  const me = await userGetCurrent(client);
  step("currentUser", { Id: me.Id, Username: me.Username });

  const spaces = new SpaceRepository(client);
  const listed = await spaces.list({ take: 100 });
  step("listSpaces", {
    TotalResults: listed.TotalResults,
    ItemType: listed.ItemType,
    Names: listed.Items.map((s) => s.Name),
  });

  const spaceName = `Conformance ${suffix}`;
  const space = await spaces.create({
    Name: spaceName,
    Description: "created by the TypeScript client",
    IsDefault: false,
    SpaceManagersTeams: [],
    SpaceManagersTeamMembers: [me.Id],
  });
  const spaceBack = await spaces.get(space.Id);
  step("createSpace", { created: space, readBack: spaceBack });

  const environments = new EnvironmentRepository(client, spaceName);
  const env = await environments.create({ Name: `Env ${suffix}`, Description: "from node" });
  const envBack = await environments.get(env.Id);
  const envList = await environments.list({ partialName: suffix });
  step("createEnvironment", {
    created: env,
    readBack: envBack,
    listed: envList.Items.map((e) => e.Id),
  });

  const groups = new ProjectGroupRepository(client, spaceName);
  const group = await groups.create({ Name: `Group ${suffix}`, Description: "from node" });
  const groupBack = await groups.get(group.Id);
  step("createProjectGroup", { created: group, readBack: groupBack });

  const lifecycles = await new LifecycleRepository(client, spaceName).list({ take: 10 });
  const lifecycle = lifecycles.Items[0];
  step("listLifecycles", { Names: lifecycles.Items.map((l) => l.Name) });

  const projects = new ProjectRepository(client, spaceName);
  const project = await projects.create(NewProject(`Project ${suffix}`, group, lifecycle));
  const projectBack = await projects.get(project.Id);
  const projectList = await projects.list({ partialName: suffix });
  step("createProject", {
    created: project,
    readBack: projectBack,
    listed: projectList.Items.map((p) => p.Id),
  });

  const deployments = await new DeploymentRepository(client, "Default").list({ take: 5 });
  step("listDeployments", {
    TotalResults: deployments.TotalResults,
    Items: deployments.Items.map((d) => ({ Id: d.Id, TaskId: d.TaskId, ProjectId: d.ProjectId })),
  });

  const tasks = new SpaceServerTaskRepository(client, "Default");
  const taskIds = deployments.Items.map((d) => d.TaskId);
  const byIds = await tasks.getByIds(taskIds);
  const one = await tasks.getById(taskIds[0]);
  const details = await tasks.getDetails(taskIds[0]);
  const raw = await tasks.getRaw(taskIds[0]);
  step("tasks", {
    byIds: byIds.map((t) => ({ Id: t.Id, State: t.State, Name: t.Name })),
    one: { Id: one.Id, State: one.State, DeploymentId: one.Arguments.DeploymentId },
    detailsTaskId: details.Task.Id,
    rawHasId: raw.includes(taskIds[0]),
  });

  const deleted = await projects.del(projectBack);
  step("deleteProject", { ok: deleted !== undefined });
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  const detail = err && err.response ? err.response.data : undefined;
  process.stdout.write(
    JSON.stringify({ error: String(err && err.message ? err.message : err), detail }) + "\n",
  );
  process.exit(1);
});
