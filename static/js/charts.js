// Draws plotly figures from JSON the server embedded as <script type="application/json"> (data, not code).
// <div data-figure="NAME"> uses the JSON in #fig-NAME; with data-figure-index="i" it uses item i's "figure".
(function () {
  "use strict";
  var config = {displayModeBar: false, displaylogo: false, responsive: true};

  function figureFor(el) {
    var source = document.getElementById("fig-" + el.dataset.figure);
    if (!source) return null;
    var fig = JSON.parse(source.textContent);
    if (el.dataset.figureIndex !== undefined) fig = fig[Number(el.dataset.figureIndex)].figure;
    if (el.hasAttribute("data-figure-autosize")) fig.layout.autosize = true;
    return fig;
  }

  function draw(root) {
    if (!window.Plotly || !root) return;
    root.querySelectorAll("[data-figure]").forEach(function (el) {
      var fig = figureFor(el);
      if (fig) window.Plotly.newPlot(el, fig.data, fig.layout, config);
    });
  }

  if (document.readyState === "complete") draw(document);
  else window.addEventListener("load", function () { draw(document); });
  // A region htmx swapped in may bring new figures.
  document.addEventListener("htmx:afterSwap", function () { draw(document); });
})();
