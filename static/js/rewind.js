// Page behaviour shared by every page. A static file (no inline scripts): the Content-Security-Policy allows
// scripts from this site only.
(function () {
  "use strict";

  // An htmx request the server refused (403 with the reason, 400 with field messages) would otherwise change
  // nothing on screen: show the server's text in the page's message area.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var list = document.getElementById("messages");
    if (!list || !xhr) { return; }
    var text = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/plain") === 0
      ? xhr.responseText : "The server refused this (" + xhr.status + ").";
    var item = document.createElement("li");
    item.className = "error";
    item.textContent = text;  // textContent: the reason is shown as text, never as markup
    list.appendChild(item);
  });
})();
