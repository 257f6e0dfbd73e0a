/* Colour mode (Bootstrap's data-bs-theme): light, dark or "auto" (the system's preference).
   Loaded in <head> without defer so the page is painted in the right mode from the start. */
(function () {
  "use strict";
  const KEY = "odcm.theme";
  const dark = window.matchMedia("(prefers-color-scheme: dark)");

  function stored() {
    try {
      const value = localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : "auto";
    } catch (e) {
      return "auto";
    }
  }

  function apply(choice) {
    const mode = choice === "auto" ? (dark.matches ? "dark" : "light") : choice;
    document.documentElement.setAttribute("data-bs-theme", mode);
    document.querySelectorAll("[data-theme-value]").forEach(function (button) {
      const on = button.getAttribute("data-theme-value") === choice;
      button.classList.toggle("active", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  apply(stored());
  dark.addEventListener("change", function () { apply(stored()); });

  document.addEventListener("DOMContentLoaded", function () {
    apply(stored());
    document.querySelectorAll("[data-theme-value]").forEach(function (button) {
      button.addEventListener("click", function () {
        const choice = button.getAttribute("data-theme-value");
        try {
          if (choice === "auto") localStorage.removeItem(KEY);
          else localStorage.setItem(KEY, choice);
        } catch (e) { /* storage refused: the choice lasts for this page only */ }
        apply(choice);
      });
    });
  });
})();
