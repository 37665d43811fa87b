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

  // The endpoint page: each live update carries one sample per variant (#variant-data);
  // the charts keep the samples seen while the page is open (the last 300).
  var samples = { time: [], variants: {} }, variantCharts = {}, lastSample = null;

  function collectSamples() {
    var table = document.getElementById("variant-data");
    var holder = document.getElementById("variant-charts");
    if (!table || !holder || !window.uPlot) return;
    var at = Number(table.getAttribute("data-time")) / 1000;
    if (!table.querySelector("tbody tr") || at === lastSample) return;
    lastSample = at;
    samples.time.push(at);
    var seen = {};
    table.querySelectorAll("tbody tr").forEach(function (row) {
      var name = row.cells[0].textContent;
      seen[name] = true;
      var v = samples.variants[name] || (samples.variants[name] = { rps: [], p99: [] });
      while (v.rps.length < samples.time.length - 1) { v.rps.push(null); v.p99.push(null); }
      v.rps.push(Number(row.cells[1].textContent));
      v.p99.push(Number(row.cells[4].textContent));
    });
    Object.keys(samples.variants).forEach(function (name) {
      var v = samples.variants[name];
      if (!seen[name]) { v.rps.push(null); v.p99.push(null); }
    });
    if (samples.time.length > 300) {
      samples.time.shift();
      Object.keys(samples.variants).forEach(function (n) { samples.variants[n].rps.shift(); samples.variants[n].p99.shift(); });
    }
    drawVariantCharts(holder);
  }

  function drawVariantCharts(holder) {
    var names = Object.keys(samples.variants);
    var colours = ["#3572c6", "#c65a35", "#2f9e44", "#8e44ad"];
    [["rps", "requests per second"], ["p99", "p99 latency, ms"]].forEach(function (m) {
      var key = m[0] + ":" + names.join("|");
      var data = [samples.time].concat(names.map(function (n) { return samples.variants[n][m[0]]; }));
      var chart = variantCharts[m[0]];
      if (chart && chart.key === key) { chart.plot.setData(data); return; }
      if (chart) { chart.plot.destroy(); chart.box.remove(); }
      var box = document.createElement("div");
      box.className = "chart";
      holder.appendChild(box);
      var series = [{}].concat(names.map(function (n, i) { return { label: n, stroke: colours[i % colours.length], width: 2, spanGaps: false }; }));
      var plot = new window.uPlot({ title: m[1], width: Math.min(holder.clientWidth || 600, 520), height: 200, scales: { x: { time: true } }, series: series }, data, box);
      variantCharts[m[0]] = { key: key, plot: plot, box: box };
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

  document.addEventListener("DOMContentLoaded", function () { drawCharts(); collectSamples(); follow(); });
  document.addEventListener("htmx:afterSettle", function () { drawCharts(); collectSamples(); follow(); });
})();
