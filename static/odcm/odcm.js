/* Behaviour shared by every page. No inline script anywhere: the content security policy
   allows scripts from ODCM's static files only, so pages declare behaviour with data-*
   attributes and this file attaches it. */
(function () {
  "use strict";

  // <form data-confirm="Really?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const question = form instanceof HTMLFormElement ? form.getAttribute("data-confirm") : null;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // [data-refresh-toggle] pauses and resumes the polling of the element it names
  // (hx-trigger="every …"), remembering the choice for the session.
  function setUpRefreshToggle(button) {
    // By id: the polled element is replaced when the filters change.
    const targetId = button.getAttribute("data-refresh-toggle");
    const key = "odcm.refresh-paused." + location.pathname;
    let paused = false;
    try { paused = sessionStorage.getItem(key) === "1"; } catch (e) { /* no storage */ }

    function show() {
      button.setAttribute("aria-pressed", paused ? "true" : "false");
      button.textContent = paused ? "Resume auto-refresh" : "Pause auto-refresh";
      document.querySelectorAll("[data-refresh-state]").forEach(function (node) {
        node.textContent = paused ? "auto-refresh paused" : node.getAttribute("data-refresh-state");
      });
    }

    button.addEventListener("click", function () {
      paused = !paused;
      try { sessionStorage.setItem(key, paused ? "1" : "0"); } catch (e) { /* no storage */ }
      show();
    });
    // htmx asks before each poll; a paused page says no.
    document.body.addEventListener("htmx:beforeRequest", function (event) {
      if (paused && event.detail.elt.id === targetId) event.preventDefault();
    });
    document.body.addEventListener("htmx:afterSwap", show);
    show();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh-toggle]").forEach(setUpRefreshToggle);
  });
})();
