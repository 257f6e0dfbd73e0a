// Fleet overview: "Expand all" / "Collapse all" open or close every instance's <details>.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-fleet-toggle]");
    if (!button) return;
    const open = button.getAttribute("data-fleet-toggle") === "open";
    document.querySelectorAll("details.fleet-instance").forEach(function (node) {
      node.open = open;
    });
  });
})();
