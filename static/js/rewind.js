// Page behaviour shared by every page. A static file (no inline scripts): the Content-Security-Policy allows
// scripts from this site only.
(function () {
  "use strict";

  // <a data-print>: the browser's print dialog. <button data-confirm="…">: asks before the form is sent.
  document.addEventListener("click", function (event) {
    if (!(event.target instanceof Element)) { return; }
    var target = event.target.closest("[data-print], button[data-confirm], a[data-confirm], input[data-confirm]");
    if (!target) { return; }
    if (target.hasAttribute("data-print")) {
      event.preventDefault();
      window.print();
    } else if (!window.confirm(target.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  // <form data-confirm="Question?">: asks before the form is sent, whichever control sends it.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // Forms marked data-swap-errors answer 400 with the form and its messages: show them rather than ignore them.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;  // the form that asked
    var target = event.detail.target;
    var marked = (source && source.closest("[data-swap-errors]")) || (target && target.closest("[data-swap-errors]"));
    if (event.detail.xhr.status === 400 && marked) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

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
