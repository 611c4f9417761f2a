// Auditor portal charts (DESIGN §2): progressive enhancement. The tables on the page hold the
// same figures and work without JavaScript; this draws them with the vendored Chart.js.
(function () {
  "use strict";
  var source = document.getElementById("grafiekdata");
  if (!source || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  function show(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    canvas.parentElement.hidden = false;
    new window.Chart(canvas, config);
  }
  var palette = ["#0b4f8a", "#a10000", "#0b6b2f", "#6b3fa0", "#8a5a00", "#1b1b1b"];
  show("grafiek-toegang", {
    type: "bar",
    data: {
      labels: data.days,
      datasets: data.partners.map(function (p, i) {
        return { label: p, data: data.accesses[p], backgroundColor: palette[i % palette.length] };
      })
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }
  });
  show("grafiek-redenen", {
    type: "bar",
    data: {
      labels: data.reasons.map(function (r) { return r[0]; }),
      datasets: [{ label: "weigeringen", data: data.reasons.map(function (r) { return r[1]; }),
                   backgroundColor: "#a10000" }]
    },
    options: { indexAxis: "y", scales: { x: { beginAtZero: true }, y: { ticks: {
      // Long reason codes would be cut off at the canvas edge on a phone: shorten them (the
      // table below names each in full).
      callback: function (value) {
        var code = this.getLabelForValue(value);
        return code.length > 22 ? code.slice(0, 21) + "\u2026" : code;
      } } } } }
  });
  show("grafiek-nood", {
    type: "line",
    data: {
      labels: data.breakGlass.map(function (r) { return r[0]; }),
      datasets: [{ label: "noodsituaties", data: data.breakGlass.map(function (r) { return r[1]; }),
                   borderColor: "#a10000", pointStyle: "triangle", pointRadius: 6 }]
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
}());
