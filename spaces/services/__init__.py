"""The registry's logic. Views, the API, tasks and commands call these functions."""

from spaces.services.errors import RegistryError
from spaces.services.instances import (
    RefreshResult,
    change_url,
    enlist_instance,
    refresh_instance,
    rotate_api_key,
    unenlist_instance,
    update_instance,
)
from spaces.services.octopus_spaces import (
    Created,
    create_space,
    delete_space,
    forget_space,
    octopus_people,
    set_enlisted,
    set_standard_environments,
)
from spaces.services.people import record_visit, search_filter, set_favourite, switcher, tiles_json
from spaces.services.probe import normalise_url, probe

__all__ = [
    "Created",
    "RefreshResult",
    "RegistryError",
    "change_url",
    "create_space",
    "delete_space",
    "enlist_instance",
    "forget_space",
    "normalise_url",
    "octopus_people",
    "probe",
    "record_visit",
    "refresh_instance",
    "rotate_api_key",
    "search_filter",
    "set_enlisted",
    "set_favourite",
    "set_standard_environments",
    "switcher",
    "tiles_json",
    "unenlist_instance",
    "update_instance",
]
