"""identity's logic. Views, the API, tasks and commands call these functions.

groups     groups, external groups, grants, revokes, the role mapping (audited; the Octopus
           teams follow after commit)
tokens     personal API tokens: create (shown once), check, revoke
teams      the managed Octopus teams: rows, plans, outcomes, retries (the database side)
team_push  pushing one instance's planned teams into Octopus (HTTP only)
"""

from identity.services.groups import (
    GrantError,
    clean_scope,
    create_group,
    delete_group,
    enqueue_sync,
    grant,
    grant_space_managers,
    revoke,
    set_role_mapping,
    store_external_groups,
    update_group,
)
from identity.services.tokens import TokenError, check_token, create_token, revoke_token

__all__ = [
    "GrantError",
    "TokenError",
    "check_token",
    "clean_scope",
    "create_group",
    "create_token",
    "delete_group",
    "enqueue_sync",
    "grant",
    "grant_space_managers",
    "revoke",
    "set_role_mapping",
    "store_external_groups",
    "update_group",
    "revoke_token",
]
