// Draws every plotly chart on the page from the JSON the server rendered next to it (json_script), so pages need
// no inline script. Markup: <div class="chart" data-figure="ID-OF-JSON" [data-figure-index="2"]></div>, where the
// JSON's element id is ID-OF-JSON or fig-ID-OF-JSON.
//
// The container's size is the page's (CSS height, the card's width); the figure fills it and follows it on
// resize ("responsive": true), instead of the figure sizing the page. A figure that carries its own height (a heat
// map with one row per segment) sets the container's height once, before drawing.
(function () {
  "use strict";

  function figureFor(el) {
    var source = document.getElementById(el.dataset.figure) || document.getElementById("fig-" + el.dataset.figure);
    if (!source) { return null; }
    var fig = JSON.parse(source.textContent);
    if (el.dataset.figureIndex !== undefined) {
      fig = fig[Number(el.dataset.figureIndex)];
      fig = fig && fig.figure ? fig.figure : fig;
    }
    return fig;
  }

  function hasPoints(fig) {
    return (fig.data || []).some(function (trace) {
      return ["x", "y", "z", "values"].some(function (key) { return trace[key] && trace[key].length; });
    });
  }

  function showEmpty(el, text) {
    el.classList.add("is-empty");
    var note = document.createElement("div");
    note.className = "empty-chart";
    note.textContent = text;
    el.replaceChildren(note);
  }

  function draw(el) {
    if (el.dataset.drawn) { return; }
    var fig = figureFor(el);
    if (!fig) { return; }
    el.dataset.drawn = "1";
    if (fig.empty || !hasPoints(fig)) {
      showEmpty(el, fig.empty || el.dataset.empty || "No data yet.");
      return;
    }
    var layout = Object.assign({}, fig.layout || {});
    if (layout.height) { el.style.height = layout.height + "px"; }
    delete layout.height;
    delete layout.width;
    layout.autosize = true;
    window.Plotly.newPlot(el, fig.data, layout, {displayModeBar: false, displaylogo: false, responsive: true});
  }

  function drawAll(root) {
    if (!window.Plotly) { return; }
    (root || document).querySelectorAll("[data-figure]").forEach(draw);
  }

  // "load": plotly.min.js (included by the pages that chart) has run by then, deferred or not.
  window.addEventListener("load", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.detail.elt); });
  window.rewindCharts = {drawAll: drawAll};
})();
