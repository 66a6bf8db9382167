/* Draws each table.chart-data as a chart (vendored Chart.js), above the table, which stays:
   the table is the figures; the chart is a picture of them. No data comes from anywhere else. */
(function () {
  "use strict";
  var COLORS = ["#0b4f8a", "#b35c00", "#1e6b35", "#a4161a", "#5b3f8c", "#4a4a4a", "#00707a"];

  function read(table) {
    var heads = table.tHead.rows[0].cells, series = [], labels = [], i;
    for (i = 1; i < heads.length; i++) {
      series.push({ label: heads[i].textContent.trim(), data: [] });
    }
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      labels.push(row.cells[0].textContent.trim());
      for (var j = 1; j < row.cells.length; j++) {
        var v = row.cells[j].getAttribute("data-v");
        series[j - 1].data.push(v === "" || v === null ? null : Number(v));
      }
    });
    return { labels: labels, series: series };
  }

  function draw(table) {
    if (table.getAttribute("data-drawn") || typeof window.Chart === "undefined") { return; }
    table.setAttribute("data-drawn", "1");
    var kind = table.getAttribute("data-chart"), data = read(table);
    var stacked = table.getAttribute("data-stacked") === "1";
    var percent = table.getAttribute("data-percent") === "1";
    var figure = table.closest("figure"), caption = figure.querySelector("figcaption");
    var box = document.createElement("div"), canvas = document.createElement("canvas");
    box.className = "chart-box";
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", (caption ? caption.textContent.trim() : "Chart") +
                        ": the same figures are in the table below.");
    box.appendChild(canvas);
    figure.insertBefore(box, table.closest(".scroll"));
    var value = { beginAtZero: true, stacked: stacked };
    if (percent) {
      value.ticks = { callback: function (v) { return Math.round(v * 100) + "%"; } };
    } else if (data.series.every(function (s) {
      return s.data.every(function (v) { return v === null || Number.isInteger(v); });
    })) {
      value.ticks = { precision: 0 };  // counts: no 0.5 of a person
    }
    new window.Chart(canvas, {
      type: kind === "hbar" ? "bar" : kind,
      data: {
        labels: data.labels,
        datasets: data.series.map(function (s, i) {
          return { label: s.label, data: s.data, backgroundColor: COLORS[i % COLORS.length],
                   borderColor: COLORS[i % COLORS.length], borderWidth: kind === "line" ? 2 : 0,
                   pointRadius: 2, spanGaps: true };
        })
      },
      options: {
        indexAxis: kind === "hbar" ? "y" : "x", responsive: true,
        maintainAspectRatio: false, animation: false,
        scales: kind === "hbar" ? { x: value, y: { stacked: stacked } }
                                : { x: { stacked: stacked }, y: value },
        plugins: { legend: { display: data.series.length > 1 } }
      }
    });
  }

  function drawAll(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("table.chart-data"), draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  } else {
    drawAll(document);
  }
  document.addEventListener("htmx:afterSettle", function (e) { drawAll(e.target); });
}());
