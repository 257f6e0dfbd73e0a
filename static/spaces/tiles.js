/* All spaces: tiles rendered from the page's JSON, instant filtering, keyboard use.
   The keyboard is handled only in the search box and inside the grid, never page-wide, so
   scrolling, menus and other fields keep their keys. */
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
  const colours = JSON.parse(box.dataset.statusColours || "{}");
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
    // A card with a stretched link, so that the star is a button beside the link, not in it.
    const card = el("div", "card h-100 space-tile");
    card.dataset.id = t.id;
    card.setAttribute("data-testid", "space-tile");
    const body = el("div", "card-body");
    const head = el("div", "d-flex align-items-start gap-2");
    const title = el("h2", "h6 card-title mb-1 me-auto");
    const link = el("a", "stretched-link text-decoration-none tile-link", t.name);
    link.href = box.dataset.spaceUrl.replace(blank, t.id);
    title.append(link);
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
    const status = t.instance.status || "unknown";
    const dot = el("span", "status-dot bg-" + (colours[status] || "secondary"));
    dot.setAttribute("role", "img");
    dot.setAttribute("aria-label", status);
    dot.title = status;
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

  function links() { return Array.from(box.querySelectorAll(".tile-link")); }

  function columns(all) {
    if (all.length < 2) return 1;
    const top = all[0].getBoundingClientRect().top;
    const n = all.findIndex(function (a) { return a.getBoundingClientRect().top !== top; });
    return n === -1 ? all.length : n;
  }

  function typing(event) {
    return event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey;
  }

  // In the search box: Enter opens the first tile, ArrowDown enters the grid.
  search.addEventListener("keydown", function (event) {
    const all = links();
    if (!all.length) return;
    if (event.key === "Enter") {
      event.preventDefault();
      all[0].click();
    } else if (event.key === "ArrowDown") {
      event.preventDefault();
      all[0].focus();
    }
  });

  // Inside the grid: arrows move between tiles (up from the first row returns to the search
  // box); typing a letter goes back to the search box.
  box.addEventListener("keydown", function (event) {
    const all = links();
    const card = event.target.closest(".space-tile");
    const at = card ? all.indexOf(card.querySelector(".tile-link")) : -1;
    if (at === -1) return;
    if (typing(event)) {
      search.focus();
      return;
    }
    const cols = columns(all);
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[event.key];
    if (step === undefined) return;
    event.preventDefault();
    const next = at + step;
    if (next < 0) {
      search.focus();
      return;
    }
    all[Math.min(next, all.length - 1)].focus();
  });

  search.addEventListener("input", render);
  render();
})();
