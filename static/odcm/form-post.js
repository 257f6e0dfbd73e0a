// OAuth 2.0 Form Post Response Mode: send the authorization response to the client at once
// (a static file, so the strict Content-Security-Policy allows it).
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form[data-auto-submit]");
  if (form) {
    form.submit();
  }
});
