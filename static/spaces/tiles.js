/* All spaces: tiles rendered from the page's JSON, instant filtering, keyboard use. */
(function () {
  "use strict";
  const raw = JSON.parse(document.getElementById("tiles-data").textContent);
  // Rows are [id, name, octopus id, instance id, projects, targets].
  const instances = new Map(raw.instances.map(function (i) { return [i.id, i]; }));
  const starred = new Set(raw.starred);
  const data = raw.spaces.map(function (r) {
    return { id: r[0], name: r[1], octopus_id: r[2], instance: instances.get(r[3]),
             project_count: r[4], target_count: r[5], starred: starred.has(r[0]) };
  });
  const box = document.getElementById("tiles");
  const search = document.getElementById("space-search");
  const count = document.getElementById("space-count");
  const more = document.getElementById("tiles-more");
  const limit = parseInt(box.dataset.limit, 10) || 300;
  const blank = "00000000-0000-0000-0000-000000000000";
  const csrf = document.querySelector("#csrf-holder input[name=csrfmiddlewaretoken]").value;
  data.forEach(function (t) {
    t.haystack = [t.name, t.instance.name, t.instance.region].concat(t.instance.tags).join(" ").toLowerCase();
  });

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function tile(t) {
    const col = el("div", "col");
    const card = el("a", "card h-100 text-decoration-none space-tile");
    card.href = box.dataset.spaceUrl.replace(blank, t.id);
    card.dataset.id = t.id;
    card.setAttribute("data-testid", "space-tile");
    const body = el("div", "card-body");
    const head = el("div", "d-flex align-items-start gap-2");
    const title = el("h2", "h6 card-title mb-1 me-auto", t.name);
    const star = el("button", "btn btn-link p-0 text-warning text-decoration-none star", t.starred ? "★" : "☆");
    star.type = "button";
    star.setAttribute("aria-pressed", t.starred ? "true" : "false");
    star.setAttribute("aria-label", (t.starred ? "Unstar " : "Star ") + t.name);
    star.setAttribute("data-testid", "tile-star");
    star.addEventListener("click", function (event) {
      event.preventDefault();
      event.stopPropagation();
      toggle(t, star);
    });
    head.append(title, star);
    const inst = el("div", "small text-body-secondary");
    const dot = el("span", "status-dot " + t.instance.status);
    dot.title = t.instance.status;
    inst.append(dot, document.createTextNode(" " + t.instance.name + " " + (t.instance.version || "")));
    const meta = el("div", "small mt-2 text-body");
    meta.textContent = (t.project_count ?? "–") + " projects · " + (t.target_count ?? "–") + " targets" +
      (t.instance.region ? " · " + t.instance.region : "");
    body.append(head, inst, meta);
    if (t.instance.tags.length) {
      const tags = el("div", "mt-1");
      t.instance.tags.forEach(function (name) { tags.append(el("span", "badge text-bg-secondary me-1", name)); });
      body.append(tags);
    }
    card.append(body);
    col.append(card);
    return col;
  }

  function toggle(t, star) {
    const body = new URLSearchParams({ starred: t.starred ? "0" : "1" });
    fetch(box.dataset.favouriteUrl.replace(blank, t.id), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "HX-Request": "true" },
    }).then(function (response) {
      if (!response.ok) return;
      t.starred = !t.starred;
      star.textContent = t.starred ? "★" : "☆";
      star.setAttribute("aria-pressed", t.starred ? "true" : "false");
    });
  }

  function render() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const hits = data.filter(function (t) {
      return words.every(function (w) { return t.haystack.indexOf(w) !== -1; });
    });
    const frag = document.createDocumentFragment();
    hits.slice(0, limit).forEach(function (t) { frag.append(tile(t)); });
    box.replaceChildren(frag);
    count.textContent = hits.length + (hits.length === 1 ? " space" : " spaces");
    more.textContent = hits.length > limit ? "Showing the first " + limit + "; type to narrow." : "";
  }

  function tiles() { return Array.from(box.querySelectorAll(".space-tile")); }

  function columns() {
    const all = tiles();
    if (all.length < 2) return 1;
    const top = all[0].getBoundingClientRect().top;
    const n = all.findIndex(function (a) { return a.getBoundingClientRect().top !== top; });
    return n === -1 ? all.length : n;
  }

  document.addEventListener("keydown", function (event) {
    const all = tiles();
    if (!all.length) return;
    const at = all.indexOf(document.activeElement);
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns() }[event.key];
    if (event.key === "Enter" && document.activeElement === search) {
      event.preventDefault();
      all[0].click();
      return;
    }
    if (step === undefined) {
      // Typing anywhere filters.
      if (event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey &&
          document.activeElement !== search && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) {
        search.focus();
      }
      return;
    }
    if (document.activeElement === search && (event.key === "ArrowLeft" || event.key === "ArrowRight")) return;
    event.preventDefault();
    const next = at === -1 ? 0 : Math.min(Math.max(at + step, 0), all.length - 1);
    all[next].focus();
  });

  search.addEventListener("input", render);
  render();
})();
