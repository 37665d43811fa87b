// trainyard dashboard: metric charts (uPlot) drawn from the page's own data table, the
// log's follow toggle, and a chart benchmark for the browser suite. No inline script:
// this file is loaded with `defer` under a `script-src 'self'` policy.
(function () {
  "use strict";

  var charts = {};

  function pointsByMetric(table) {
    var series = {};
    table.querySelectorAll("tbody tr").forEach(function (row) {
      var cells = row.cells;
      var name = cells[0].textContent;
      (series[name] = series[name] || [[], []]);
      series[name][0].push(Number(cells[1].textContent) / 1000);
      series[name][1].push(Number(cells[2].textContent));
    });
    return series;
  }

  function options(name, width) {
    return {
      title: name, width: width, height: 220,
      scales: { x: { time: true } },
      series: [{}, { label: name, stroke: "#3572c6", width: 2 }],
    };
  }

  function drawCharts() {
    var table = document.getElementById("metric-data");
    var holder = document.getElementById("charts");
    if (!table || !holder || !window.uPlot) return;
    var series = pointsByMetric(table);
    var width = Math.min(holder.clientWidth || 600, 640);
    Object.keys(series).forEach(function (name) {
      if (charts[name]) { charts[name].setData(series[name]); return; }
      var box = document.createElement("div");
      box.className = "chart";
      holder.appendChild(box);
      charts[name] = new window.uPlot(options(name, width), series[name], box);
    });
  }

  function follow() {
    var log = document.getElementById("log");
    var toggle = document.getElementById("follow");
    if (log && (!toggle || toggle.checked)) log.scrollTop = log.scrollHeight;
  }

  // Draws a chart of `n` points; resolves to the milliseconds from its creation until it
  // is drawn (uPlot draws in a microtask; a timer runs after every microtask).
  window.__chartBench = function (n) {
    var xs = new Array(n), ys = new Array(n), now = Date.now() / 1000;
    for (var i = 0; i < n; i++) { xs[i] = now + i; ys[i] = Math.sin(i / 50) + i / n; }
    var box = document.createElement("div");
    document.body.appendChild(box);
    var start = performance.now();
    var chart = new window.uPlot(options("bench", 600), [xs, ys], box);
    return new Promise(function (resolve) {
      setTimeout(function () {
        var took = performance.now() - start;
        chart.destroy();
        box.remove();
        resolve(took);
      }, 0);
    });
  };

  document.addEventListener("DOMContentLoaded", function () { drawCharts(); follow(); });
  document.addEventListener("htmx:afterSettle", function () { drawCharts(); follow(); });
})();
