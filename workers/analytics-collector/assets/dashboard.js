"use strict";
// Renders the dashboard from the data the worker embedded in #data (no requests, no
// external assets). Every chart is plain SVG; every number shown comes from the query API.
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
  const width = data.workers.resolution === "hour" ? 3600000 : 60000;
  const windows = [];
  for (let t = data.workers.from_ms; t < data.workers.to_ms; t += width) windows.push(t);

  const el = (tag, attrs = {}, text) => {
    const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const pct = (x) => (x === null || x === undefined ? "–" : (x * 100).toFixed(x >= 0.9995 || x === 0 ? 0 : 1) + " %");
  const int = (n) => n.toLocaleString("en-US");
  const key = (s, dim) => (dim ? s.group[dim] || "(none)" : "all");
  const time = (t) => {
    const d = new Date(t).toISOString();
    return width === 3600000 && windows.length > 24 ? d.slice(5, 10) + " " + d.slice(11, 16) : d.slice(11, 16);
  };

  // Per series name, the value in each window (null where the window has no data).
  function series(result, dim, value) {
    const byName = new Map();
    const index = new Map(windows.map((t, i) => [t, i]));
    for (const point of result.series) {
      const i = index.get(point.window_start);
      if (i === undefined) continue;
      for (const g of point.groups) {
        const name = key(g, dim);
        if (!byName.has(name)) byName.set(name, new Array(windows.length).fill(null));
        byName.get(name)[i] = value(g);
      }
    }
    return [...byName.entries()].map(([name, values]) => ({ name, values }));
  }

  function chart(id, lines, { unit = "", fillZero = false, max, integer = false } = {}) {
    const host = document.getElementById(id);
    if (!lines.length) {
      host.append(el("p", { class: "empty" }, "No data in this range"));
      return;
    }
    const W = 600, H = 220, L = 64, R = 10, T = 10, B = 28;
    const vals = lines.flatMap((l) => l.values).filter((v) => v !== null);
    // Four gridlines at a "nice" step: 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k.
    const raw = Math.max(max ?? 0, ...vals, 1) / 4;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = mag * [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find((m) => m * mag >= raw);
    if (integer) step = Math.ceil(step); // counts: whole gridlines
    const top = max ?? step * 4;
    const x = (i) => L + (windows.length < 2 ? 0 : (i * (W - L - R)) / (windows.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    for (let k = 0; k <= 4; k++) {
      const v = (top * k) / 4;
      svg.append(el("svg:line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      svg.append(el("svg:text", { x: L - 6, y: y(v) + 5, "text-anchor": "end" }, +v.toFixed(2) + unit));
    }
    for (const i of [0, Math.floor((windows.length - 1) / 2), windows.length - 1]) {
      svg.append(el("svg:text", { x: x(i), y: H - 4, "text-anchor": i === 0 ? "start" : i === windows.length - 1 ? "end" : "middle" }, time(windows[i])));
    }
    const legend = el("div", { class: "legend" });
    lines.forEach((line, n) => {
      const color = COLORS[n % COLORS.length];
      let d = "";
      let pen = false;
      line.values.forEach((v, i) => {
        if (v === null && fillZero) v = 0;
        if (v === null) { pen = false; return; }
        d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
        pen = true;
      });
      const path = el("svg:path", { d, fill: "none", stroke: color, "stroke-width": 2, "data-series": line.name });
      path.append(el("svg:title", {}, line.name));
      svg.append(path);
      const item = el("span", {}, "");
      item.style.color = color;
      item.append(el("b", {}, line.name));
      legend.append(item);
    });
    host.append(svg, legend);
  }

  function card(id, text) {
    document.querySelector(`[data-testid="${id}"] .value`).textContent = text;
  }

  const selected = data.workers.totals.find((s) => s.group.worker === data.worker);
  card("requests", selected ? int(selected.requests) : "0");
  card("error-rate", selected ? pct(selected.error_rate) : "–");
  card("p95", selected && selected.latency_ms ? selected.latency_ms.p95 + " ms" : "–");
  card("tokens", selected ? int(selected.tokens || 0) : "0");
  const cacheTotal = data.cache.totals[0];
  card("cache-hit-ratio", cacheTotal ? pct(cacheTotal.cache_hit_ratio) : "–");

  chart("chart-requests", series(data.workers, "worker", (g) => g.requests), { fillZero: true, integer: true });
  chart("chart-errors", series(data.workers, "worker", (g) => g.error_rate * 100), { unit: "%" });
  const lat = data.workers.series.length ? series(data.workers, "worker", (g) => g.latency_ms).find((s) => s.name === data.worker) : null;
  chart(
    "chart-latency",
    lat ? ["p50", "p95", "p99"].map((p) => ({ name: p, values: lat.values.map((l) => (l ? l[p] : null)) })) : [],
    { unit: "ms" },
  );
  chart("chart-cache", series(data.cache, null, (g) => (g.cache_hit_ratio === null ? null : g.cache_hit_ratio * 100)).map((s) => ({ ...s, name: "hit ratio" })), { unit: "%", max: 100 });
  chart("chart-regions", series(data.regions, "region", (g) => g.requests), { fillZero: true, integer: true });

  const table = document.getElementById("regions-table");
  const routed = data.regions.totals.reduce((n, s) => n + s.requests, 0);
  for (const s of data.regions.totals) {
    const row = el("tr", { "data-region": key(s, "region") });
    row.append(el("td", {}, key(s, "region")), el("td", { class: "num" }, int(s.requests)), el("td", { class: "num" }, pct(s.requests / routed)));
    table.append(row);
  }
  document.body.dataset.rendered = "true";
})();
