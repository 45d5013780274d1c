// orderpipe dashboard: fetches /api/stats and /api/health from this server
// every few seconds and redraws in place (no reload). Every figure is also
// written as text; the charts are uPlot (vendored, see vendor/uplot).
"use strict";
(function () {
  const body = document.body;
  const refreshMS = Number(body.dataset.refreshMs) || 5000;
  const params = new URLSearchParams(location.search);
  let range = params.get("range") || body.dataset.defaultRange;
  let generation = 0;
  let timer = null;
  const $ = (id) => document.getElementById(id);
  const intFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const moneyFmt = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const compactFmt = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
  const rateFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
  const int = (v) => intFmt.format(v);
  const money = (v) => moneyFmt.format(v);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setState(panel, hasData) {
    const card = document.querySelector('[data-panel="' + panel + '"]');
    if (card) card.dataset.state = hasData ? "data" : "empty";
  }

  // barList draws rows as labelled bars with their value as text.
  function barList(id, items, fmt) {
    const list = $(id);
    list.replaceChildren();
    const max = Math.max(0, ...items.map((i) => i.value));
    for (const it of items) {
      const li = el("li");
      li.dataset.key = it.key;
      li.dataset.value = String(it.value);
      const bar = el("span", "bar");
      bar.style.width = max > 0 ? (100 * it.value / max).toFixed(1) + "%" : "0";
      li.append(el("span", "k", it.key), el("span", "track"), el("span", "v", fmt(it.value)));
      li.children[1].append(bar);
      list.append(li);
    }
    if (items.length === 0) list.append(el("li", "muted", "none"));
  }

  const charts = {};
  function timeChart(id, key, label, color, bars, rows) {
    const xs = rows.map((r) => Number(r.keys[0]) / 1000);
    const ys = rows.map((r) => r.values[0]);
    const box = $(id);
    const width = Math.max(200, box.clientWidth);
    if (!charts[id]) {
      const series = { label: label, stroke: color, width: 1.5, fill: color + "33", points: { show: false } };
      if (bars) series.paths = uPlot.paths.bars({ size: [0.8, 40] });
      charts[id] = new uPlot({
        width: width, height: 150, legend: { show: false }, cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [{ stroke: "#6b7280", grid: { stroke: "#eef0f3" } },
          { stroke: "#6b7280", grid: { stroke: "#eef0f3" }, size: 60, values: (u, vals) => vals.map((v) => compactFmt.format(v)) }],
        series: [{}, series],
      }, [xs, ys], box);
    } else {
      charts[id].setData([xs, ys]);
    }
    const total = ys.reduce((a, b) => a + b, 0);
    let peak = 0, at = 0;
    ys.forEach((y, i) => { if (y > peak) { peak = y; at = xs[i]; } });
    const fmt = key === "orders" ? int : money;
    $(id.replace("chart-", "") + "-over-time-note").textContent =
      rows.length + " buckets · sum " + fmt(total) + (peak > 0 ? " · peak " + fmt(peak) + " at " + new Date(at * 1000).toLocaleTimeString("en-GB") : "");
    setState(key + "-over-time", rows.length > 0);
  }

  window.addEventListener("resize", () => {
    for (const id in charts) charts[id].setSize({ width: Math.max(200, $(id).clientWidth), height: 150 });
  });

  function showProblem(text) {
    const p = $("problem");
    p.hidden = !text;
    p.textContent = text || "";
    document.querySelectorAll("[data-panel]").forEach((c) => c.classList.toggle("stale", !!text && !c.closest(".health") && !/rate|latency/.test(c.dataset.panel)));
  }

  function rows(stats, id) { return stats.panels[id] || []; }

  function renderStats(s) {
    $("total").textContent = int(s.total);
    $("total").dataset.value = String(s.total);
    setState("total", true);
    const rev = rows(s, "revenue")[0], aov = rows(s, "average-order-value")[0];
    $("revenue").textContent = money(rev ? rev.values[0] : 0);
    $("aov").textContent = money(aov ? aov.values[0] : 0);
    setState("revenue", true);
    setState("average-order-value", true);
    timeChart("chart-orders", "orders", "orders", "#2563eb", true, rows(s, "orders-over-time"));
    timeChart("chart-revenue", "revenue", "revenue", "#0d9488", false, rows(s, "revenue-over-time"));
    const terms = [["orders-by-status", int], ["orders-by-channel", int], ["payment-methods", int], ["top-categories", money], ["revenue-by-country", money]];
    for (const [id, fmt] of terms) {
      const items = rows(s, id).map((r) => ({ key: r.keys[0], value: r.values[0] }));
      barList(id, items, fmt);
      setState(id, items.length > 0);
    }
    const tb = $("latest");
    tb.replaceChildren();
    for (const o of s.latest) {
      const tr = el("tr");
      const cells = [
        [o.order_id], [o.status], [o.version, "num"], [o.customer && o.customer.name], [o.channel],
        [o.item_count, "num"], [o.total === undefined ? "" : money(o.total) + " " + (o.currency || ""), "num"],
        [o.payment && o.payment.method], [o.shipping && o.shipping.country],
      ];
      for (const [v, cls] of cells) tr.append(el("td", cls, v === undefined || v === null ? "" : String(v)));
      tb.append(tr);
    }
    setState("latest", s.latest.length > 0);
  }

  function daemonState(d) {
    if (!d.up) return ["unreachable", "st-bad"];
    if (!d.ready) return ["not ready" + (d.reason ? ": " + d.reason : ""), "st-warn"];
    return ["ready", "st-ok"];
  }

  function sumRates(ds) {
    let sum = 0, known = false;
    for (const d of ds) if (d.rate !== null && d.rate !== undefined) { sum += d.rate; known = true; }
    return known ? sum : null;
  }

  function renderDaemonKPI(id, ds, what, variable) {
    const r = sumRates(ds);
    $(id + "-rate").textContent = ds.length === 0 ? "–" : r === null ? "…" : rateFmt.format(r) + " /s";
    const note = $(id + "-note");
    if (ds.length === 0) { note.textContent = "not configured (" + variable + ")"; note.className = "small"; }
    else {
      const states = ds.map(daemonState);
      const bad = states.find((s) => s[1] !== "st-ok");
      note.textContent = what + " · " + (bad ? bad[0] : ds.length > 1 ? ds.length + " ready" : "ready");
      note.className = "small " + (bad ? bad[1] : "st-ok");
    }
    setState(id + "-rate", ds.length > 0 && r !== null);
  }

  function renderHealth(h) {
    renderDaemonKPI("producer", h.producers, "orders produced", "DASHBOARD_PRODUCER_METRICS");
    renderDaemonKPI("consumer", h.consumers, "documents indexed", "DASHBOARD_CONSUMER_METRICS");
    const c = h.consumers.find((d) => d.p50 !== undefined && d.p50 !== null);
    const ms = (s) => s < 1 ? Math.round(s * 1000) + " ms" : rateFmt.format(s) + " s";
    const q = (v, above) => (above ? "> " : "") + ms(v);
    $("latency").textContent = c ? q(c.p50, c.p50_above) + " / " + q(c.p99, c.p99_above) : "–";
    $("latency-note").textContent = c ? "p50 / p99 · " + c.latency_window : h.consumers.length ? "no order indexed yet" : "not configured (DASHBOARD_CONSUMER_METRICS)";
    setState("latency", !!c);

    $("lag-group").textContent = h.group ? "· group " + h.group : "";
    if (h.lag_error) {
      $("lag").replaceChildren(el("li", "st-bad", h.lag_error));
      setState("lag", false);
    } else {
      barList("lag", h.lag.map((l) => ({ key: "partition " + l.partition, value: l.lag })), int);
      setState("lag", h.lag.length > 0);
    }
    $("dlq-topic").textContent = h.dlq_topic ? "· " + h.dlq_topic : "";
    $("dlq").textContent = h.dlq_error ? "?" : int(h.dlq_messages) + " in topic";
    $("dlq").title = h.dlq_error || "";
    const reasons = {};
    for (const d of h.consumers) for (const k in (d.dead_letters || {})) reasons[k] = (reasons[k] || 0) + d.dead_letters[k];
    $("dead-letters-note").textContent = h.consumers.length ? "dead-lettered by the consumers since they started, by reason:" : "";
    barList("dead-letters", Object.keys(reasons).sort().map((k) => ({ key: k, value: reasons[k] })), int);
    setState("dead-letters", !h.dlq_error);

    const tb = $("daemons");
    tb.replaceChildren();
    const all = h.producers.map((d) => ["producer", d]).concat(h.consumers.map((d) => ["consumer", d]));
    for (const [kind, d] of all) {
      const [text, cls] = daemonState(d);
      const tr = el("tr");
      const name = el("td", null, kind + " ");
      name.append(el("span", "muted", d.url.replace(/^https?:\/\//, "").replace(/\/metrics$/, "")));
      const st = el("td", cls, text);
      st.title = d.error || d.reason || "";
      if (!d.up) st.textContent = "unreachable";
      tr.append(name, st, el("td", "num", d.rate === null || d.rate === undefined ? "…" : rateFmt.format(d.rate)), el("td", "num", int(d.total)));
      tb.append(tr);
    }
    if (all.length === 0) {
      const tr = el("tr");
      const td = el("td", "muted", "no /metrics addresses given (DASHBOARD_PRODUCER_METRICS, DASHBOARD_CONSUMER_METRICS)");
      td.colSpan = 4;
      tr.append(td);
      tb.append(tr);
    }
    setState("daemons", all.length > 0 && all.every((x) => x[1].up));
  }

  async function getJSON(path) {
    const res = await fetch(path, { cache: "no-store" });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return { ok: res.ok, data: data };
  }

  async function refresh() {
    clearTimeout(timer);
    const asked = range;
    try {
      const [stats, health] = await Promise.all([
        getJSON("/api/stats?range=" + encodeURIComponent(asked)),
        getJSON("/api/health").catch(() => ({ ok: false, data: null })),
      ]);
      if (asked !== range) return; // the range changed meanwhile: that refresh draws
      if (stats.ok && stats.data) {
        renderStats(stats.data);
        showProblem("");
      } else {
        showProblem(stats.data && stats.data.error ? stats.data.error : "the dashboard server did not answer");
        body.dataset.problem = stats.data ? stats.data.state : "server";
      }
      if (stats.ok) delete body.dataset.problem;
      if (health.ok && health.data) renderHealth(health.data);
      generation++;
      body.dataset.generation = String(generation);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString("en-GB") + " · every " + refreshMS / 1000 + " s";
    } catch (e) {
      showProblem("the dashboard server does not answer: " + e.message);
      body.dataset.problem = "server";
    } finally {
      if (asked === range) { clearTimeout(timer); timer = setTimeout(refresh, refreshMS); }
    }
  }

  function selectRange(r) {
    range = r;
    document.querySelectorAll("#ranges button").forEach((b) => b.classList.toggle("on", b.dataset.range === r));
    const u = new URL(location.href);
    u.searchParams.set("range", r);
    history.replaceState(null, "", u);
    refresh();
  }

  document.querySelectorAll("#ranges button").forEach((b) => b.addEventListener("click", () => selectRange(b.dataset.range)));
  selectRange(range);
})();
