// Instances console: "select all" ticks every row's checkbox; the bulk form shows only the
// inputs of the chosen action. Without JavaScript every input shows and the server checks.
(function () {
  "use strict";
  function showInputs(select) {
    document.querySelectorAll("[data-bulk-for]").forEach(function (node) {
      node.hidden = node.getAttribute("data-bulk-for") !== select.value;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-select-all]").forEach(function (box) {
      const name = box.getAttribute("data-select-all");
      box.addEventListener("change", function () {
        document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (row) {
          row.checked = box.checked;
        });
      });
    });
    document.querySelectorAll("[data-bulk-action]").forEach(function (select) {
      select.addEventListener("change", function () { showInputs(select); });
      showInputs(select);
    });
  });
})();
