// Page behaviour that would otherwise be inline handlers, which the Content-Security-Policy forbids.
(function () {
  "use strict";
  // <form data-confirm="Question?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
  // <a data-print>: open the print dialog.
  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("[data-print]") : null;
    if (link) { event.preventDefault(); window.print(); }
  });
  // Regions marked data-swap-errors show a 400 answer (a fragment with the form's error) instead of ignoring it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.xhr.status === 400 && target && target.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
