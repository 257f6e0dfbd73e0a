// Searchable pickers: a long <select> (more than 15 options, or marked data-searchable) gets a
// filter box above it; typing hides the options that do not contain the text (case- and
// accent-insensitive), and Arrow Down moves to the list. The select itself is unchanged, so
// the form posts the same value and works without JavaScript.
(function () {
  "use strict";
  const LONG = 15;
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  function enhance(select) {
    if (select.dataset.pickerReady) return;
    const wanted = select.hasAttribute("data-searchable") || select.options.length > LONG;
    if (!wanted || select.multiple && !select.hasAttribute("data-searchable")) return;
    select.dataset.pickerReady = "1";
    const box = document.createElement("input");
    box.type = "search";
    box.className = "form-control form-control-sm mb-1 picker-filter";
    box.placeholder = "Type to filter " + select.options.length + " options…";
    box.setAttribute("aria-label", "Filter the options of " + (select.labels && select.labels[0] ? select.labels[0].textContent.trim() : "the list"));
    box.setAttribute("aria-controls", select.id || "");
    box.setAttribute("data-testid", "picker-filter");
    const texts = Array.prototype.map.call(select.options, function (o) { return fold(o.text); });
    box.addEventListener("input", function () {
      const words = fold(box.value).split(/\s+/).filter(Boolean);
      let shown = 0;
      Array.prototype.forEach.call(select.options, function (option, i) {
        const match = !option.value || words.every(function (w) { return texts[i].indexOf(w) >= 0; });
        option.hidden = !match;
        if (match && option.value) shown += 1;
      });
      box.setAttribute("data-shown", String(shown));
      const current = select.options[select.selectedIndex];
      // A multiple select keeps its choices while filtering: only a single one follows the text.
      if (!select.multiple && (!current || current.hidden || !current.value) && words.length) {
        const first = Array.prototype.find.call(select.options, function (o) { return !o.hidden && o.value; });
        if (first) select.value = first.value;
      }
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { event.preventDefault(); select.focus(); }
      if (event.key === "Enter") {
        event.preventDefault();
        if (select.multiple && box.value.trim()) {
          // Enter picks the first option shown, as a chip, and clears the filter for the next.
          const first = Array.prototype.find.call(select.options, function (o) { return !o.hidden && o.value && !o.selected; });
          if (first) { first.selected = true; select.dispatchEvent(new Event("change", { bubbles: true })); }
          box.value = "";
          box.dispatchEvent(new Event("input"));
        }
      }
    });
    select.parentNode.insertBefore(box, select);
    if (select.multiple) chips(select, box);
  }
  // A multiple select shows its choices as removable chips above the filter box, and a click
  // on an option toggles it (no Ctrl or Cmd needed). The select still posts the values.
  function chips(select, box) {
    const row = document.createElement("div");
    row.className = "picker-chips d-flex flex-wrap gap-1 mb-1";
    row.setAttribute("data-testid", "picker-chips");
    function render() {
      row.replaceChildren();
      Array.prototype.forEach.call(select.selectedOptions, function (option) {
        const chip = document.createElement("button");
        chip.type = "button";
        chip.className = "btn btn-sm btn-outline-secondary py-0 px-1 picker-chip";
        chip.textContent = option.text + " \u00d7";
        chip.setAttribute("aria-label", "Remove " + option.text);
        chip.setAttribute("data-testid", "chip");
        chip.dataset.value = option.value;
        chip.addEventListener("click", function () {
          option.selected = false;
          select.dispatchEvent(new Event("change", { bubbles: true }));
        });
        row.appendChild(chip);
      });
    }
    select.addEventListener("mousedown", function (event) {
      const option = event.target;
      if (!(option instanceof HTMLOptionElement)) return;
      event.preventDefault();
      option.selected = !option.selected;
      select.focus();
      select.dispatchEvent(new Event("change", { bubbles: true }));
    });
    select.addEventListener("change", render);
    box.parentNode.insertBefore(row, box);
    render();
  }
  function scan(root) {
    (root || document).querySelectorAll("select").forEach(enhance);
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSwap", function (event) { scan(event.target); });
  // Rows a script adds (the variable editor's "Add variable") announce themselves.
  document.addEventListener("odcm:added", function (event) { scan(event.target); });
})();
