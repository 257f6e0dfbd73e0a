"""A blueprint's ``step_templates``: names of shared step templates from the library, each
installed in every target space at its latest revision (following later ones), or pinned
to a revision (``{"name": …, "revision": N}``; the subscription is pinned, so later
revisions do not reach the space until the blueprint's pin changes).

The library belongs to ``sharing``, which managed may not import; it is reached through the
provider sharing registers (``spaces.step_template_library``). An installation is a sharing
subscription, so the step template is written by sharing's broker (claimed, retried,
audited) and its drift is sharing's drift check; the blueprint plans and records only.

Plan: ``create`` (not installed), ``change`` (another revision, the pin to set or lift,
failed, or edited by hand in Octopus) or ``keep``; each with the revision it installs
("r2 (pinned)", "r3 (latest)"). Prune stops managing only installations this blueprint made
(``created["step_templates"]``: lower name -> subscription id); the copy stays in Octopus.
"""

from __future__ import annotations

from typing import Any

from managed.services.content import step_template_entries
from managed.services.octopus_side import Action
from spaces.models import Space
from spaces.step_template_library import library

KIND = "step_templates"


def adopt(
    content: dict[str, Any],
    space: Space,
    publisher: Space | None,
    intended: list[str],
    created: dict[str, dict[str, str]],
) -> None:
    """An earlier attempt meant to install ``intended`` but may have died before writing
    the installation down: take over the ones that exist now, so prune still knows them."""
    mine = created.get(KIND, {})
    entries = step_template_entries(content)
    todo = [n for n, _ in entries if n.lower() in intended and n.lower() not in mine]
    if not todo:
        return
    mine = created.setdefault(KIND, {})
    pins = {n.lower(): pin for n, pin in entries}
    for lower, found in library().status(space, todo, publisher=publisher, revisions=pins).items():
        if found.ref:
            mine[lower] = found.ref


def plan_step_templates(
    content: dict[str, Any],
    space: Space,
    publisher: Space | None,
    *,
    created: dict[str, dict[str, str]] | None = None,
    prune: bool = False,
    inspect: bool = False,
) -> list[Action]:
    """Per name: create, change (why) or keep. ``inspect`` reads Octopus for hand edits
    (the drift check); otherwise the library's own record is trusted. Raises
    ``LibraryProblem`` for a name the library does not have."""
    entries = step_template_entries(content)
    names = [n for n, _ in entries]
    pins = {n.lower(): pin for n, pin in entries}
    ours = dict((created or {}).get(KIND, {}))
    actions: list[Action] = []
    if names:
        found = library().status(space, names, publisher=publisher, inspect=inspect, revisions=pins)
        for name in names:
            installed = found[name.lower()]
            note = f"r{installed.revision} ({'pinned' if pins[name.lower()] else 'latest'})"
            if installed.state == "missing":
                actions.append(Action(KIND, installed.name, "create", note=note))
            elif installed.state == "in_step":
                actions.append(Action(KIND, installed.name, "keep", note=note))
            else:
                fields = [installed.state, *[d for d in installed.details if d]]
                actions.append(Action(KIND, installed.name, "change", fields, note=note))
    if prune:
        wanted = {n.lower() for n in names}
        for lower in sorted(ours):
            if lower not in wanted:
                actions.append(Action(KIND, lower, "delete"))
    return actions


def apply_step_templates(
    content: dict[str, Any],
    space: Space,
    publisher: Space | None,
    actions: list[Action],
    created: dict[str, dict[str, str]],
) -> None:
    """Install, re-sync and stop managing as planned; ``created`` is updated in place."""
    todo = [a for a in actions if a.kind == KIND and a.verb != "keep"]
    if not todo:
        return
    mine = created.setdefault(KIND, {})
    pins = {n.lower(): pin for n, pin in step_template_entries(content)}
    lib = library()
    for action in todo:
        lower = action.name.lower()
        if action.verb == "delete":
            ref = mine.pop(lower, "")
            if ref:
                lib.remove(space, ref)
            continue
        ref, made = lib.install(space, action.name, publisher=publisher, revision=pins[lower])
        if made:  # a subscription a person made earlier is used, never claimed for prune
            mine[lower] = ref
