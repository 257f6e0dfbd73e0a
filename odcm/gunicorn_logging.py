"""gunicorn's access log with secrets masked (see ``gunicorn.conf.py``): the request line,
path and query string atoms go through :func:`odcm.logging.redact`."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from odcm.logging import redact

URL_ATOMS = ("r", "q", "U", "f")


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name in URL_ATOMS:
            if isinstance(atoms.get(name), str):
                atoms[name] = redact(atoms[name])
        if isinstance(atoms.get("q"), str) and atoms["q"] and "=" in atoms["q"]:
            # The bare query string atom has no leading "?": mask it the same way.
            atoms["q"] = redact("?" + atoms["q"])[1:]
        return atoms
