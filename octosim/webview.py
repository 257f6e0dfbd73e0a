"""A minimal, read-only web view at Octopus's own URL shapes, so deep links land somewhere.

Octopus's web UI is a single-page app under ``/app`` with hash routing
(``/app#/Spaces-1/projects/acme-web``). The part after ``#`` never reaches the server, so
``/app`` is a small page whose script reads the hash and asks ``/app/view?path=<hash>`` for
the matching HTML, rendered here from the instance's state. Links inside the view are hash
links, exactly like Octopus's. No sign-in: octosim is a simulator, and the view never shows
a sensitive value or an API key. The shapes served (anything else says "not simulated"):

    #/                                             the instance's spaces
    #/Spaces-1  #/Spaces-1/dashboard  #/spaces/Spaces-1          space dashboard
    #/Spaces-1/projects  #/Spaces-1/projects/{slug or id}[/...]  projects, one project
    #/Spaces-1/library/variables[/{LibraryVariableSets-n}[/...]] library variable sets
    #/Spaces-1/library/steptemplates[/{ActionTemplates-n}[/...]] step templates
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any
from urllib.parse import quote

from octosim.instance import Instance
from octosim.routing import RawBody
from octosim.state import Doc, InstanceState

Page = tuple[int, str]

SCRIPT = """\
// octosim's web view: Octopus routes by the URL's hash, which never reaches a server,
// so this script reads it and fetches the matching read-only HTML from octosim.
(function () {
  "use strict";
  var view = document.getElementById("view");
  var base = document.body.getAttribute("data-view");
  function show() {
    var path = location.hash.replace(/^#/, "") || "/";
    fetch(base + "?path=" + encodeURIComponent(path), {credentials: "omit"})
      .then(function (r) { return r.text(); })
      .then(function (html) { view.innerHTML = html; })
      .catch(function () { view.textContent = "octosim did not answer."; });
  }
  window.addEventListener("hashchange", show);
  show();
})();
"""

STYLE = """\
body { font-family: system-ui, sans-serif; margin: 0; color: #1f2933; }
.banner { background: #0d3b66; color: #fff; padding: .5rem 1rem; }
.banner strong { letter-spacing: .05em; }
nav, main { padding: .5rem 1rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid #d9e2ec; padding: .25rem .75rem .25rem 0; text-align: left; }
.muted { color: #627d98; }
pre { background: #f0f4f8; padding: .5rem; overflow: auto; }
"""


def shell(inst: Instance) -> str:
    prefix = f"/{quote(inst.slug)}/app"
    name = escape(inst.name)
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{name} · octosim</title>"
        f"<link rel='stylesheet' href='{prefix}/octosim.css'></head>"
        f"<body data-view='{prefix}/view'>"
        "<div class='banner' data-testid='octosim-banner'><strong>octosim</strong> · "
        f"{name} (Octopus {escape(inst.version)}) · a simulated Octopus Server: read-only "
        "view, no sign-in</div>"
        "<nav><a href='#/'>Spaces</a></nav>"
        "<main id='view'>Loading… (this page needs JavaScript)</main>"
        f"<script src='{prefix}/octosim.js'></script></body></html>\n"
    )


def reply(inst: Instance, method: str, tail: str, query: Any) -> tuple[int, RawBody]:
    """The answer to ``GET /app…`` (``tail`` starts with ``/app``)."""
    if method not in ("GET", "HEAD"):
        return 405, RawBody(b"The web view is read-only.", "text/plain; charset=utf-8")
    if tail in ("/app", "/app/"):
        return 200, RawBody(shell(inst).encode(), "text/html; charset=utf-8")
    if tail == "/app/octosim.js":
        return 200, RawBody(SCRIPT.encode(), "text/javascript; charset=utf-8")
    if tail == "/app/octosim.css":
        return 200, RawBody(STYLE.encode(), "text/css; charset=utf-8")
    if tail == "/app/view":
        status, html = view(inst.state, str(query.get("path", "/")))
        return status, RawBody(html.encode(), "text/html; charset=utf-8")
    return 404, RawBody(b"Not found.", "text/plain; charset=utf-8")


# ---------------------------------------------------------------- views


def view(st: InstanceState, path: str) -> Page:
    parts = [p for p in path.split("?")[0].split("/") if p]
    if not parts:
        return _spaces(st)
    if parts[0].lower() == "spaces" and len(parts) > 1:
        parts = parts[1:2]  # the space's settings page: its dashboard will do
    space = _find(st.spaces, parts[0])
    if space is None:
        return _missing(f"No space {parts[0]!r} on this instance.")
    rest = [p.lower() for p in parts[1:3]] + parts[3:]
    sid = space["Id"]
    if not rest or rest[0] == "dashboard":
        return _dashboard(st, space)
    if rest[0] == "projects":
        if len(parts) < 3:
            return 200, _head(space, "Projects") + _project_list(st, sid)
        return _project(st, space, parts[2])
    if rest[0] == "library" and len(rest) > 1 and rest[1] in LIBRARY:
        kind, list_fn, one_fn = LIBRARY[rest[1]]
        if len(parts) < 4:
            return 200, _head(space, kind) + list_fn(st, sid)
        return one_fn(st, space, parts[3])
    return _missing("octosim does not simulate this page.", space)


def _find(docs: dict[str, Doc], ident: str, *keys: str) -> Doc | None:
    """A document by id (Octopus ids are case-insensitive) or by another key (a slug)."""
    wanted = ident.lower()
    for doc in docs.values():
        if str(doc["Id"]).lower() == wanted or any(
            str(doc.get(k, "")).lower() == wanted for k in keys
        ):
            return doc
    return None


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _link(space_id: str, tail: str, text: Any) -> str:
    return f"<a href='#/{quote(space_id)}/{tail}'>{_e(text)}</a>"


def _head(space: Doc, title: str) -> str:
    return (
        f"<p class='muted'>{_link(space['Id'], 'dashboard', space['Name'])} "
        f"({_e(space['Id'])})</p><h1>{_e(title)}</h1>"
    )


def _missing(message: str, space: Doc | None = None) -> Page:
    back = _link(space["Id"], "dashboard", "Back to the space") if space else ""
    return 404, f"<h1>Not found</h1><p>{_e(message)}</p><p>{back}</p>"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p class='muted'>None.</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _spaces(st: InstanceState) -> Page:
    rows = [
        [f"<a href='#/{quote(s['Id'])}'>{_e(s['Name'])}</a>", _e(s["Id"])]
        for s in st.spaces.values()
    ]
    return 200, "<h1>Spaces</h1>" + _table(["Space", "Id"], rows)


def _dashboard(st: InstanceState, space: Doc) -> Page:
    sid = space["Id"]
    envs = sorted(st.col(sid, "environments").values(), key=lambda e: e.get("SortOrder", 0))
    html = _head(space, f"{space['Name']} dashboard")
    html += "<h2>Environments</h2><p>" + _e(", ".join(e["Name"] for e in envs) or "None") + "</p>"
    html += "<h2>Projects</h2>" + _project_list(st, sid)
    html += "<h2>Library variable sets</h2>" + _set_list(st, sid)
    html += "<h2>Step templates</h2>" + _template_list(st, sid)
    return 200, html


def _project_list(st: InstanceState, sid: str) -> str:
    rows = [
        [_link(sid, f"projects/{quote(p['Slug'])}", p["Name"]), _e(p.get("Description"))]
        for p in sorted(st.col(sid, "projects").values(), key=lambda p: p["Name"].lower())
    ]
    return _table(["Project", "Description"], rows)


def _project(st: InstanceState, space: Doc, ident: str) -> Page:
    sid = space["Id"]
    project = _find(st.col(sid, "projects"), ident, "Slug")
    if project is None:
        return _missing(f"No project {ident!r} in {space['Name']}.", space)
    sets = st.col(sid, "libraryvariablesets")
    included = [
        _link(sid, f"library/variables/{quote(i)}", sets[i]["Name"])
        for i in project.get("IncludedLibraryVariableSetIds", [])
        if i in sets
    ]
    deployments = [d for d in st.deployments.values() if d.project_id == project["Id"]]
    html = _head(space, project["Name"])
    html += f"<p>{_e(project.get('Description'))}</p><p class='muted'>{_e(project['Id'])}"
    html += f" · slug {_e(project.get('Slug'))} · {len(deployments)} deployments</p>"
    html += "<h2>Included library variable sets</h2><p>" + (", ".join(included) or "None") + "</p>"
    html += "<h2>Variables</h2>" + _variables(st, sid, project.get("VariableSetId"))
    return 200, html


def _variables(st: InstanceState, sid: str, vs_id: str | None) -> str:
    doc = st.variable_sets.get(vs_id or "")
    if doc is None:
        return "<p class='muted'>None.</p>"
    envs = {e["Id"]: e["Name"] for e in st.col(sid, "environments").values()}
    rows = []
    for var in doc["Variables"]:
        scope = var.get("Scope") or {}
        parts = [
            f"{kind}: {', '.join(envs.get(v, v) if kind == 'Environment' else v for v in vals)}"
            for kind, vals in scope.items()
            if vals
        ]
        # Never a sensitive value, as in Octopus: only that there is one.
        shown = "********" if var.get("IsSensitive") else _e(var.get("Value"))
        rows.append([_e(var["Name"]), shown, _e(var.get("Type")), _e("; ".join(parts))])
    return _table(["Name", "Value", "Type", "Scope"], rows)


def _set_list(st: InstanceState, sid: str) -> str:
    rows = [
        [_link(sid, f"library/variables/{quote(s['Id'])}", s["Name"]), _e(s.get("ContentType"))]
        for s in sorted(st.col(sid, "libraryvariablesets").values(), key=lambda s: s["Name"])
    ]
    return _table(["Variable set", "Content"], rows)


def _set(st: InstanceState, space: Doc, ident: str) -> Page:
    sid = space["Id"]
    lvs = _find(st.col(sid, "libraryvariablesets"), ident)
    if lvs is None:
        return _missing(f"No library variable set {ident!r} in {space['Name']}.", space)
    doc = st.variable_sets.get(lvs["VariableSetId"], {})
    html = _head(space, lvs["Name"])
    html += f"<p>{_e(lvs.get('Description'))}</p><p class='muted'>{_e(lvs['Id'])} · "
    html += f"variable set version {_e(doc.get('Version'))}</p>"
    return 200, html + _variables(st, sid, lvs["VariableSetId"])


def _template_list(st: InstanceState, sid: str) -> str:
    rows = [
        [_link(sid, f"library/steptemplates/{quote(t['Id'])}", t["Name"]), _e(t.get("ActionType"))]
        for t in sorted(st.col(sid, "actiontemplates").values(), key=lambda t: t["Name"])
    ]
    return _table(["Step template", "Type"], rows)


def _template(st: InstanceState, space: Doc, ident: str) -> Page:
    tpl = _find(st.col(space["Id"], "actiontemplates"), ident)
    if tpl is None:
        return _missing(f"No step template {ident!r} in {space['Name']}.", space)
    params = [
        [_e(p.get("Name")), _e(p.get("Label")), _default(p)] for p in tpl.get("Parameters", [])
    ]
    script = (tpl.get("Properties") or {}).get("Octopus.Action.Script.ScriptBody", "")
    html = _head(space, tpl["Name"])
    html += f"<p>{_e(tpl.get('Description'))}</p><p class='muted'>{_e(tpl['Id'])} · "
    html += f"{_e(tpl.get('ActionType'))} · version {_e(tpl.get('Version'))}</p>"
    html += "<h2>Parameters</h2>" + _table(["Name", "Label", "Default"], params)
    return 200, html + f"<h2>Script</h2><pre>{_e(script)}</pre>"


def _default(param: Doc) -> str:
    control = (param.get("DisplaySettings") or {}).get("Octopus.ControlType")
    if control == "Sensitive" and param.get("DefaultValue"):
        return "********"
    return _e(param.get("DefaultValue"))


LIBRARY: dict[
    str, tuple[str, Callable[[InstanceState, str], str], Callable[[InstanceState, Doc, str], Page]]
] = {
    "variables": ("Library variable sets", _set_list, _set),
    "steptemplates": ("Step templates", _template_list, _template),
}
