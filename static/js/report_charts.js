// Draws a behaviour-diff report's charts from the JSON the page embeds (heat map, distributions).
(function () {
  function draw() {
    if (!window.Plotly) return;
    var config = {displayModeBar: false, responsive: true};
    var heat = document.getElementById("heatmap-data");
    if (heat && document.getElementById("segment-heatmap")) {
      var fig = JSON.parse(heat.textContent);
      fig.layout.autosize = true;
      Plotly.newPlot("segment-heatmap", fig.data, fig.layout, config);
    }
    var dist = document.getElementById("distribution-data");
    if (dist) JSON.parse(dist.textContent).forEach(function (d, i) {
      d.figure.layout.autosize = true;
      Plotly.newPlot("dist-" + (i + 1), d.figure.data, d.figure.layout, config);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
})();
