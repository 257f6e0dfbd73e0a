// The navbar space switcher's type-ahead: focus the search box when the menu opens; Arrow
// Down or Enter in the box moves to the first match (Bootstrap moves between items after).
(function () {
  "use strict";
  function items() {
    return Array.prototype.slice.call(document.querySelectorAll("#switcher-results a.dropdown-item"));
  }
  document.addEventListener("shown.bs.dropdown", function (event) {
    if (event.target && event.target.id === "switcher-toggle") {
      // The menu's content arrives by htmx: focus the box once it is there.
      const focus = function () {
        const box = document.getElementById("switcher-search");
        if (box) box.focus();
        return Boolean(box);
      };
      if (!focus()) document.body.addEventListener("htmx:afterSwap", focus, { once: true });
    }
  });
  document.addEventListener("keydown", function (event) {
    if (!event.target || event.target.id !== "switcher-search") return;
    const found = items();
    if (!found.length) return;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      found[0].focus();
    } else if (event.key === "Enter") {
      event.preventDefault();
      found[0].click();
    }
  });
  // Arrow keys between matches (Bootstrap only moves between items it saw when it opened).
  document.addEventListener("keydown", function (event) {
    const found = items();
    const at = found.indexOf(document.activeElement);
    if (at < 0) return;
    if (event.key === "ArrowDown" && at + 1 < found.length) {
      event.preventDefault(); event.stopPropagation(); found[at + 1].focus();
    } else if (event.key === "ArrowUp") {
      event.preventDefault(); event.stopPropagation();
      if (at === 0) document.getElementById("switcher-search").focus(); else found[at - 1].focus();
    }
  }, true);
})();
