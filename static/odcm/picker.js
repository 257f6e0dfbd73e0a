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
      if ((!current || current.hidden || !current.value) && words.length) {
        const first = Array.prototype.find.call(select.options, function (o) { return !o.hidden && o.value; });
        if (first) select.value = first.value;
      }
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { event.preventDefault(); select.focus(); }
      if (event.key === "Enter") { event.preventDefault(); }
    });
    select.parentNode.insertBefore(box, select);
  }
  function scan(root) {
    (root || document).querySelectorAll("select").forEach(enhance);
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSwap", function (event) { scan(event.target); });
})();
