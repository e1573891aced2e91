// netmon's dashboard. Every name from the API came off the wire: it is only
// ever set as textContent (never as HTML), with bidi and control characters
// shown as \u{...} so that a name cannot reorder or hide the text around it.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = { since: 0, until: 0, live: false, agent: "", device: "", timer: 0, chart: null };
  const shown = (s) => String(s).replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g,
    (c) => "\\u{" + c.codePointAt(0).toString(16).toUpperCase() + "}");
  const num = (n) => Number(n).toLocaleString("en-US");
  // null: no packet's bytes are known (rows from before netmon); with
  // unknown packets beside known ones the bytes are a lower bound.
  function bytes(n, unknown) {
    if (n === null || n === undefined) return "—";
    const u = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (unknown ? "≥ " : "") + (i ? n.toFixed(1) : String(n)) + " " + u[i];
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function params(extra) {
    const p = new URLSearchParams({ since: String(state.since), until: String(state.until) });
    if (state.agent) p.set("agent", state.agent);
    if (state.device) p.set("device", state.device);
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    return p;
  }
  async function get(path, p) {
    const r = await fetch(path + "?" + p.toString(), { credentials: "same-origin" });
    if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()).trim());
    return r.json();
  }
  // overflowClient is the client of the row that holds the clients past a
  // window's cap on new clients (aggregate.OverflowClient).
  const overflowClient = "(overflow)";
  function openDevice(id) { location.hash = "device=" + encodeURIComponent(id); }
  // merge adds up /api/top answers of the same grouping (by device, for
  // DNS-over-HTTPS and DNS-over-TLS), row by row, largest first.
  function merge(docs) {
    const out = { packets: 0, rows: [] }, byKey = new Map();
    const add = (a, b) => a === null || a === undefined ? b : b === null || b === undefined ? a : a + b;
    for (const d of docs) {
      out.packets += d.packets;
      for (const r of d.rows) {
        const k = r.device ? "d:" + r.device.id : "n:" + r.name, m = byKey.get(k);
        if (!m) { byKey.set(k, Object.assign({}, r)); continue; }
        m.packets += r.packets;
        m.bytes = add(m.bytes, r.bytes);
        m.unknown_bytes_packets = (m.unknown_bytes_packets || 0) + (r.unknown_bytes_packets || 0);
      }
    }
    out.rows = Array.from(byKey.values()).sort((a, b) => b.packets - a.packets || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out;
  }

  function fillTable(table, doc, nameHead) {
    table.replaceChildren();
    const head = el("tr");
    head.append(el("th", nameHead), el("th", "packets", "n"), el("th", "bytes", "n"), el("th", "share", "n"));
    table.append(head);
    if (doc.rows.length === 0) {
      const tr = el("tr"), td = el("td", "nothing in this range", "empty");
      td.colSpan = 4;
      tr.append(td);
      table.append(tr);
      return;
    }
    for (const row of doc.rows) {
      const tr = el("tr");
      tr.append(el("td", shown(row.name), "name"), el("td", num(row.packets), "n"), el("td", bytes(row.bytes, row.unknown_bytes_packets), "n"),
        el("td", doc.packets ? (100 * row.packets / doc.packets).toFixed(1) + "%" : "", "n"));
      if (row.device && row.device.id === overflowClient) {
        // Not a device: the clients past a window's cap on new clients
        // (docs/floods.md), so no device page to open.
        tr.className = "overflow";
        tr.title = "new clients past the cap of a window (a flood): counted, not told apart";
      } else if (row.device) {
        tr.className = "link";
        tr.dataset.device = row.device.id;
        tr.title = [row.device.mac, row.device.vendor, (row.device.clients || []).join(", "),
          row.device.name_source ? "name from " + row.device.name_source : ""].filter(Boolean).join(" · ");
        tr.addEventListener("click", () => openDevice(row.device.id));
      }
      table.append(tr);
    }
  }

  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
  function drawChart(doc) {
    const box = $("chart");
    if (state.chart) { state.chart.destroy(); state.chart = null; }
    box.replaceChildren();
    // Stacked: each line is drawn as the running sum of the ones after it,
    // the largest service at the bottom; the legend shows its own value.
    const lines = doc.lines;
    const n = doc.times.length;
    const stacked = [];
    let acc = new Array(n).fill(0);
    for (let i = lines.length - 1; i >= 0; i--) {
      acc = acc.map((v, j) => v + lines[i].packets[j]);
      stacked[i] = acc.slice();
    }
    const data = [doc.times];
    const series = [{}];
    lines.forEach((l, i) => {
      data.push(stacked[i]);
      const c = palette[i % palette.length];
      series.push({ label: shown(l.name), stroke: c, fill: c + "99", width: 1, points: { show: false },
        value: (u, v, si, idx) => idx == null ? "--" : num(lines[si - 1].packets[idx]) });
    });
    window.netmonChart = { lines: lines, times: doc.times };
    if (lines.length === 0) { box.append(el("p", "No packets in this range.", "empty")); return; }
    const width = Math.max(280, box.clientWidth - 8);
    state.chart = new uPlot({ width: width, height: 300, series: series,
      axes: [{}, { values: (u, vals) => vals.map((v) => num(v)), size: 70 }],
      scales: { x: { time: true } } }, data, box);
    window.netmonChart.uplot = state.chart;
    requestAnimationFrame(fit);
  }
  // fit keeps the chart as wide as its box (a phone turned, a window resized).
  function fit() {
    if (state.chart) state.chart.setSize({ width: Math.max(280, $("chart").clientWidth - 8), height: 300 });
  }
  window.addEventListener("resize", fit);

  async function load() {
    $("status").textContent = "loading…";
    try {
      const dev = state.device;
      $("device-head").hidden = !dev;
      $("devices-section").hidden = !!dev;
      $("doh-section").hidden = !!dev;
      const jobs = [
        get("/api/series", params({ buckets: "120", top: "8" })).then(drawChart),
        get("/api/top", params({ by: "service" })).then((d) => fillTable($("services"), d, "service")),
        get("/api/top", params({ by: "domain" })).then((d) => fillTable($("domains"), d, "domain")),
        get("/api/top", params({ by: "source" })).then((d) => fillTable($("sources"), d, "found by")),
        get("/api/top", params({ by: "agent" })).then((d) => fillTable($("agents"), d, "agent")),
        get("/api/top", params({ by: "naming" })).then((d) => {
          for (const r of d.rows) if (r.name === "") r.name = "unknown";
          fillTable($("naming"), d, "named by");
        }),
      ];
      if (!dev) {
        jobs.push(get("/api/top", params({ by: "device" })).then((d) => fillTable($("devices"), d, "device")));
        jobs.push(Promise.all(["DNS-over-HTTPS", "DNS-over-TLS"].map((s) => get("/api/top", params({ by: "device", service: s }))))
          .then((ds) => fillTable($("doh"), merge(ds), "device")));
      } else {
        const p = params({ by: "device", limit: "1" });
        jobs.push(get("/api/top", p).then((d) => {
          const r = d.rows[0];
          $("device-name").textContent = r ? shown(r.name) : shown(dev);
          $("device-info").textContent = r && r.device ? [r.device.mac, r.device.vendor, (r.device.clients || []).join(", "),
            r.device.name_source ? "name from " + r.device.name_source : ""].filter(Boolean).join(" · ") : "";
        }));
      }
      await Promise.all(jobs);
      const fmt = (s) => new Date(s * 1000).toLocaleString();
      $("status").textContent = fmt(state.since) + " – " + fmt(state.until) + (state.live ? " · live" : "");
      document.body.dataset.loaded = String(Date.now());
    } catch (e) {
      $("status").textContent = String(e.message || e);
    }
  }

  function toLocalInput(s) {
    const d = new Date(s * 1000);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }
  let extent = null;
  async function pick() {
    clearInterval(state.timer);
    const v = $("preset").value;
    $("custom").hidden = v !== "custom";
    const now = Math.floor(Date.parse(extent.now) / 1000);
    if (v === "custom") {
      const f = Date.parse($("from").value), t = Date.parse($("to").value);
      if (!(f < t)) { $("status").textContent = "custom range: want from before to"; return; }
      state.since = Math.floor(f / 1000); state.until = Math.floor(t / 1000); state.live = false;
    } else if (v === "recorded" && extent.newest) {
      state.since = Math.floor(Date.parse(extent.oldest) / 1000);
      state.until = Math.floor(Date.parse(extent.newest) / 1000) + 60;
      state.live = false;
    } else {
      state.until = now + 60; state.since = now - (Number(v) || 3600); state.live = true;
    }
    $("from").value = toLocalInput(state.since);
    $("to").value = toLocalInput(state.until);
    await load();
    if (state.live) {
      // Live: slide the window forward and reload (every 30 s unless the
      // server says otherwise).
      state.timer = setInterval(async () => {
        const r = await get("/api/range", new URLSearchParams());
        const n = Math.floor(Date.parse(r.now) / 1000);
        state.since = n - (Number($("preset").value) || 3600); state.until = n + 60;
        load();
      }, 1000 * (extent.refresh_seconds || 30));
    }
  }
  function route() {
    const m = /^#device=(.*)$/.exec(location.hash);
    state.device = m ? decodeURIComponent(m[1]) : "";
    $("chart-title").textContent = state.device ? "This device's services over time (packets)" : "Services over time (packets)";
    load();
  }

  async function start() {
    try {
      extent = await get("/api/range", new URLSearchParams());
    } catch (e) { $("status").textContent = String(e.message || e); return; }
    for (const a of extent.agents) {
      const o = el("option", shown(a)); o.value = a; $("agent").append(o);
    }
    // Data recorded in the past (a replayed capture) is found: with nothing
    // in the last hour, the page opens on everything recorded.
    const newest = extent.newest ? Date.parse(extent.newest) : 0;
    if (newest && newest < Date.parse(extent.now) - 3600 * 1000) $("preset").value = "recorded";
    const m = /^#device=(.*)$/.exec(location.hash);
    state.device = m ? decodeURIComponent(m[1]) : "";
    $("preset").addEventListener("change", pick);
    $("apply").addEventListener("click", pick);
    $("agent").addEventListener("change", () => { state.agent = $("agent").value; load(); });
    window.addEventListener("hashchange", route);
    if (!extent.newest) { $("status").textContent = "The database has no rows yet."; }
    await pick();
  }
  start();
})();
