"""The step-template library, as the apps below and beside sharing see it.

The library (shared step templates, their revisions, subscriptions and deliveries) lives in
``sharing``; managed spaces' blueprints list step templates by name and must not import
sharing (the layers point down only). So sharing registers a provider here in its
``AppConfig.ready()``::

    from spaces.step_template_library import register
    register(MyLibrary())

and a blueprint asks it, per space, "where does step template <name> stand" (:meth:`status`),
"install it" (:meth:`install`: through the library's own delivery path, claimed, retried and
audited there) and "stop managing what I installed" (:meth:`remove`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from odcm.errors import ServiceError
from spaces.models import Space


class LibraryProblem(ServiceError):
    """A step template cannot be installed in a space (no such template, no trust, no
    library); the message is for people and names the template and the space."""


@dataclass(frozen=True)
class Installed:
    """Where one library step template stands in a space.

    ``state``: ``missing`` (not installed, or no longer managed), ``in_step`` (delivered at
    the wanted revision — the latest, or the one asked for — or queued for it), ``behind`` /
    ``ahead`` (another revision), ``repin`` (installed, but following the latest where a
    revision is asked for, or the other way round), ``drifted`` (edited in Octopus since it was
    delivered) or ``failed`` (its last delivery failed). ``ref`` is the library's handle for
    the installation (a subscription id), "" when missing. ``revision`` is the wanted
    revision, ``latest`` the template's latest.
    """

    name: str
    state: str
    ref: str = ""
    revision: int = 0
    details: list[str] = field(default_factory=list)
    latest: int = 0


class Library(Protocol):
    def status(
        self,
        space: Space,
        names: list[str],
        *,
        publisher: Space | None,
        inspect: bool = False,
        revisions: dict[str, int | None] | None = None,
    ) -> dict[str, Installed]:
        """lower name -> where it stands; ``inspect`` reads Octopus for hand edits first;
        ``revisions`` (lower name -> revision, None or absent: the latest) pins some.
        Raises :class:`LibraryProblem` for a name the library cannot resolve, or a revision
        it cannot pin."""
        ...

    def install(
        self,
        space: Space,
        name: str,
        *,
        publisher: Space | None,
        revision: int | None = None,
        actor: Any = None,
    ) -> tuple[str, bool]:
        """Make sure ``revision`` (None: the latest, following later ones) is (being)
        delivered to ``space``: (ref, whether this call created the installation).
        Idempotent."""
        ...

    def remove(self, space: Space, ref: str, *, actor: Any = None) -> None:
        """Stop managing an installation (the copy stays in Octopus, marked unmanaged)."""
        ...


_providers: list[Library] = []


def register(library: Library) -> None:
    if library not in _providers:
        _providers.append(library)


def library() -> Library:
    """The registered library; :class:`LibraryProblem` when no app provides one."""
    if not _providers:
        raise LibraryProblem("No step-template library is installed in this ODCM.")
    return _providers[0]
