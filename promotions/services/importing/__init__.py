"""Review and import of an inbound bundle into the target space, through ``octopus/``.

- ``review``: what the review page shows, the values still needed, values supplied here;
- ``sources``: where packages come from (archive, local space, source ODCM), and the feed;
- ``values``: the process and variables import writes (also what the edit check compares);
- ``project``: the remote project "<Source space>: <Project>", its lifecycle and release;
- ``run``: the claimed import itself, in a request or queued for a worker.

Callers use the names below (``importing.import_bundle`` …), not the modules.
"""

from .project import remote_project_name
from .review import ANY_ENVIRONMENT, fingerprint_matches, needed, review, supply
from .run import import_bundle, queue_import, run_queued
from .sources import (
    PackageSource,
    archive_source,
    peer_source,
    source_for,
    space_source,
    transfer_package,
)
from .values import map_steps, snapshot_variables

__all__ = [
    "ANY_ENVIRONMENT",
    "PackageSource",
    "archive_source",
    "fingerprint_matches",
    "import_bundle",
    "map_steps",
    "needed",
    "peer_source",
    "queue_import",
    "remote_project_name",
    "review",
    "run_queued",
    "snapshot_variables",
    "source_for",
    "space_source",
    "supply",
    "transfer_package",
]
