"""identity.access enforces a grant's scope where ODCM acts for someone: starting a deployment
run (rollouts) and answering a manual intervention only inside the environments, projects and
tenants the person's grants cover."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity import access, services
from identity.models import Role
from rollouts.access import may_cancel_run
from rollouts.models import DeploymentRun, RunDeployment
from rollouts.services import orchestration
from tests.conftest import make_user
from tests.identity.test_access import make_instance

pytestmark = pytest.mark.django_db


def _start(user, space, environment="Test", project="Web", tenants=()):
    return orchestration.start_run(
        user=user, project=project, environment=environment, waves=[[space.pk]], tenants=tenants
    )


def test_a_deployer_narrowed_to_environments_may_start_runs_only_there(member, make_group):
    space = make_instance("Prod").spaces.get(octopus_id="Spaces-1")
    services.grant(make_group("Testers", [member]), Role.DEPLOYER, space=space,
                   scope={"environments": ["Test"]})  # fmt: skip
    with pytest.raises(orchestration.RunError, match="may not deploy Web to Production"):
        _start(member, space, environment="Production")
    assert DeploymentRun.objects.count() == 0
    assert _start(member, space, environment="test").environment == "test"  # any case
    # Seeing the space is unaffected: ODCM has no per-environment pages.
    assert access.space_role(member, space) == Role.DEPLOYER


def test_projects_and_tenants_narrow_too_and_a_whole_space_grant_beside_wins(member, make_group):
    space = make_instance("Prod").spaces.get(octopus_id="Spaces-1")
    services.grant(member, Role.DEPLOYER, space=space,
                   scope={"projects": ["Web"], "tenants": ["Acme"]})  # fmt: skip
    ids = [space.pk]
    allowed = access.deployable_spaces
    assert allowed(member, ids, environment="Any", project="Web", tenants=["Acme"]) == {
        str(space.pk)
    }
    assert allowed(member, ids, environment="Any", project="Api", tenants=["Acme"]) == set()
    # Untenanted, or one tenant outside the scope: not covered.
    assert allowed(member, ids, environment="Any", project="Web") == set()
    assert allowed(member, ids, environment="Any", project="Web", tenants=["Acme", "Beta"]) == set()
    # A project-group scope cannot be proven without the project's group: never widened.
    services.grant(member, Role.MANAGER, space=space, scope={"project_groups": ["Default"]})
    assert allowed(member, ids, environment="Any", project="Api", tenants=["Acme"]) == set()
    assert allowed(member, ids, environment="Any", project="Api", project_group="default") == {
        str(space.pk)
    }
    # A Viewer grant never deploys; a whole-space Deployer grant through a group does.
    services.grant(make_group("Readers", [member]), Role.VIEWER, space=space)
    assert allowed(member, ids, environment="Any", project="Api") == set()
    services.grant(make_group("Deployers", [member]), Role.DEPLOYER, space=space)
    assert allowed(member, ids, environment="Any", project="Api") == {str(space.pk)}


def test_owners_and_admins_are_not_narrowed_and_queries_stay_fixed(admin_user, member):
    inst = make_instance("Prod", spaces=6)
    owner = make_user("olga")
    inst.owners.add(owner)
    ids = list(inst.spaces.values_list("pk", flat=True))
    for user in (admin_user, owner):
        assert len(access.deployable_spaces(user, ids, environment="P", project="W")) == 6
    for space in inst.spaces.all():
        services.grant(member, Role.DEPLOYER, space=space, scope={"environments": ["P"]})
    with CaptureQueriesContext(connection) as queries:
        found = access.deployable_spaces(member, ids, environment="P", project="W")
    assert len(found) == 6 and len(queries) <= 6


def test_an_intervention_outside_the_grants_scope_is_refused(
    admin_user, member, api_client, token_for, login
):
    inst = make_instance("Prod")
    test_space, other = inst.spaces.order_by("octopus_id")
    services.grant(member, Role.DEPLOYER, instance=inst, scope={"environments": ["Production"]})
    run = orchestration.start_run(
        user=admin_user, project="Web", environment="Test", waves=[[test_space.pk, other.pk]]
    )
    RunDeployment.objects.filter(run=run).update(
        interruption_id="Interruptions-1", interruption_title="Approve"
    )
    row = run.deployments.filter(space=test_space).select_related("run", "space").get()
    assert orchestration.may_answer(member, [row]) == set()
    assert orchestration.may_answer(admin_user, [row]) == {row.pk}
    with pytest.raises(orchestration.RunError, match="covering this project, environment"):
        orchestration.submit_intervention(row, actor=member, proceed=True)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")
    refused = api_client.post(
        f"/api/v1/rollouts/runs/{run.pk}/intervention/",
        {"deployment": str(row.pk), "proceed": True},
        format="json",
    )
    assert refused.status_code == 403, refused.content
    assert "covering this project" in refused.content.decode()
    assert not may_cancel_run(member, run)
    page = login(member).get(f"/rollouts/runs/{run.pk}/").content.decode()
    assert "Waiting: Approve" in page and 'data-testid="proceed"' not in page
    admin_page = login(admin_user).get(f"/rollouts/runs/{run.pk}/").content.decode()
    assert 'data-testid="proceed"' in admin_page
