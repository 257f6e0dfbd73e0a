/* The shared variable editor (templates/sharing/item_edit.html). Without this file the page
   still works: "Add variable" saves the draft and the page comes back with blank rows. */
(function () {
  "use strict";

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // A sensitive value is typed into a password field; switching a row to Sensitive masks
  // what is already typed there, switching away shows a plain field again.
  function applyType(row) {
    const select = row.querySelector("[data-editor-type]");
    const value = row.querySelector("[data-editor-value]");
    if (!select || !value) return;
    const sensitive = select.value === "Sensitive";
    value.type = sensitive ? "password" : "text";
    value.autocomplete = sensitive ? "new-password" : "off";
    if (sensitive && !value.placeholder) value.placeholder = "value required";
    // Accounts, certificates and worker pools: suggest the publisher space's names.
    const option = select.options[select.selectedIndex];
    const list = option ? option.getAttribute("data-list") : null;
    if (list) value.setAttribute("list", list); else value.removeAttribute("list");
  }

  function addRow(form) {
    const count = form.querySelector("[data-editor-count]");
    const blank = form.querySelector("template[data-editor-blank]");
    const body = form.querySelector("[data-editor-rows]");
    if (!count || !blank || !body) return false;
    const index = parseInt(count.value, 10);
    const html = blank.innerHTML.split("__i__").join(String(index));
    const holder = document.createElement("tbody");
    holder.innerHTML = html;
    const row = holder.querySelector("tr");
    if (!row) return false;
    row.querySelector("[data-editor-key]").value = newKey();
    body.appendChild(row);
    // picker.js makes the new row's scope pickers searchable, as those the page came with.
    row.dispatchEvent(new CustomEvent("odcm:added", { bubbles: true }));
    count.value = String(index + 1);
    const name = row.querySelector("[data-testid=var-name]");
    if (name) name.focus();
    return true;
  }

  function setUp(form) {
    form.addEventListener("click", function (event) {
      const button = event.target.closest("[data-editor-add]");
      if (button && addRow(form)) event.preventDefault();
    });
    form.addEventListener("change", function (event) {
      const target = event.target;
      const row = target.closest("[data-editor-row]");
      if (!row) return;
      if (target.matches("[data-editor-type]")) applyType(row);
      if (target.matches("[data-editor-remove]")) {
        row.classList.toggle("text-decoration-line-through", target.checked);
        row.classList.toggle("opacity-50", target.checked);
      }
    });
  }

  // <input data-filter="list-id">: show only the items of that list whose text matches.
  function setUpFilter(input) {
    const list = document.getElementById(input.getAttribute("data-filter"));
    if (!list) return;
    input.addEventListener("input", function () {
      const wanted = input.value.trim().toLowerCase();
      list.querySelectorAll("[data-filter-item]").forEach(function (item) {
        item.hidden = wanted !== "" && !item.textContent.toLowerCase().includes(wanted);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-editor]").forEach(setUp);
    document.querySelectorAll("input[data-filter]").forEach(setUpFilter);
  });
})();
