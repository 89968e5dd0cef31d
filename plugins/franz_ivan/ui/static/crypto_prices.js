/* The "Crypto prices" page: reads the plugin's JSON API (same origin, Airflow's login cookie) and
   draws one uPlot chart per pair. Every value from the API goes into the page as text, never as HTML. */
"use strict";

(function () {
  const STALE_SECONDS = 300;
  const COLORS = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f", "#e53e3e"];
  const state = { range: "1h", charts: {}, lines: {} };
  window.cryptoPrices = state; // read by the browser test: the points each chart holds

  function setStatus(text, isError) {
    const status = document.getElementById("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  async function getJson(path) {
    const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || "");
      throw new Error(`${path}: HTTP ${response.status} ${detail}`);
    }
    return body;
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "—" : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function fillTable(id, items, columns, rowClass) {
    const body = document.querySelector(`#${id} tbody`);
    body.replaceChildren();
    for (const item of items) {
      const row = document.createElement("tr");
      if (rowClass) row.className = rowClass(item);
      for (const [value, className] of columns(item)) cell(row, value, className);
      body.appendChild(row);
    }
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : null;
  }

  function age(seconds) {
    if (seconds === null) return "no data for 7 d";
    if (seconds < 120) return `${seconds.toFixed(0)} s`;
    if (seconds < 7200) return `${(seconds / 60).toFixed(0)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function showOverview(overview) {
    fillTable(
      "freshness",
      overview.freshness,
      (m) => [[m.pair], [m.source], [m.exchange], [when(m.newest_observed_at)], [age(m.age_seconds), "number"]],
      (m) => (m.age_seconds === null || m.age_seconds > STALE_SECONDS ? "stale" : ""),
    );
    fillTable("allowance", overview.allowance, (a) => [
      [a.source], [a.remaining, "number"], [a.cost, "number"], [when(a.observed_at)],
    ]);
    const dead = overview.dead_letters_24h;
    document.getElementById("dead-letter-count").textContent = String(dead.count);
    fillTable("dead-letters", dead.latest, (d) => [
      [when(d.timestamp)], [d.topic], [d.partition, "number"], [d.offset, "number"], [d.error],
    ]);
    const checks = overview.failing_checks;
    document.getElementById("quality-card").hidden = checks === null;
    if (checks !== null) {
      document.getElementById("failing-count").textContent = String(checks.length);
      fillTable("failing-checks", checks, (c) => [
        [when(c.checked_at)], [c.check_name], [c.market], [c.observed_value, "number"], [c.threshold, "number"], [c.message],
      ]);
    }
  }

  async function showLag() {
    const note = document.getElementById("lag-note");
    try {
      const lag = await getJson("api/lag");
      document.getElementById("lag-total").textContent = String(lag.total);
      fillTable("lag", Object.entries(lag.partitions), ([partition, count]) => [[partition], [count, "number"]]);
      note.textContent = `topic ${lag.topic}, consumer group ${lag.consumer_group}`;
      note.classList.remove("error");
    } catch (error) {
      document.getElementById("lag-total").textContent = "unknown";
      note.textContent = error.message;
      note.classList.add("error");
    }
  }

  /* Candles: a wick from low to high and a body from open to close, drawn over the plot. */
  function drawCandles(u, candleSeries) {
    const ctx = u.ctx;
    const xs = u.data[0];
    const width = xs.length > 1 ? Math.max(1, 0.6 * (u.valToPos(xs[1], "x", true) - u.valToPos(xs[0], "x", true))) : 4;
    ctx.save();
    for (const { index, ohlc } of candleSeries) {
      ctx.strokeStyle = ctx.fillStyle = u.series[index].stroke();
      for (let i = 0; i < xs.length; i++) {
        const candle = ohlc[i];
        if (!candle) continue;
        const [open, high, low, close] = candle;
        const x = u.valToPos(xs[i], "x", true);
        const [yOpen, yHigh, yLow, yClose] = [open, high, low, close].map((v) => u.valToPos(v, "y", true));
        ctx.beginPath();
        ctx.moveTo(x, yHigh);
        ctx.lineTo(x, yLow);
        ctx.stroke();
        const top = Math.min(yOpen, yClose);
        const height = Math.max(1, Math.abs(yClose - yOpen));
        if (close >= open) ctx.strokeRect(x - width / 2, top, width, height);
        else ctx.fillRect(x - width / 2, top, width, height);
      }
    }
    ctx.restore();
  }

  function chartData(prices) {
    const times = [...new Set(prices.lines.flatMap((line) => line.points.map((p) => p[0])))].sort((a, b) => a - b);
    const position = new Map(times.map((t, i) => [t, i]));
    const columns = [times];
    const candleSeries = [];
    prices.lines.forEach((line, n) => {
      const closes = new Array(times.length).fill(null);
      const ohlc = new Array(times.length).fill(null);
      for (const [t, open, high, low, close] of line.points) {
        closes[position.get(t)] = Number(close);
        ohlc[position.get(t)] = [open, high, low, close].map(Number);
      }
      columns.push(closes);
      if (line.kind === "candle") candleSeries.push({ index: n + 1, ohlc });
    });
    const values = columns.slice(1).flat().concat(candleSeries.flatMap((c) => c.ohlc.flat()));
    const known = values.filter((v) => v !== null && Number.isFinite(v));
    const low = Math.min(...known);
    const high = Math.max(...known);
    const pad = Math.max((high - low) * 0.05, Math.abs(high) * 0.0005, 1e-9);
    return { columns, candleSeries, yRange: known.length ? [low - pad, high + pad] : null };
  }

  function lineLabel(line) {
    return line.source === line.exchange ? line.source : `${line.source} / ${line.exchange}`;
  }

  function showPair(pair, prices) {
    const id = `pair-${pair}`;
    let section = document.getElementById(id);
    if (!section) {
      section = document.createElement("section");
      section.id = id;
      section.className = "pair";
      section.dataset.pair = pair;
      const title = document.createElement("h2");
      title.textContent = pair;
      const chart = document.createElement("div");
      chart.className = "chart";
      const table = document.createElement("table");
      table.className = "lines";
      table.innerHTML =
        "<thead><tr><th>Source</th><th>Exchange</th><th>Kind</th><th>Points</th><th>Last price</th></tr></thead><tbody></tbody>";
      const note = document.createElement("p");
      note.className = "note";
      section.append(title, chart, table, note);
      document.getElementById("charts").appendChild(section);
    }
    const { columns, candleSeries, yRange } = chartData(prices);
    const series = [{}].concat(
      prices.lines.map((line, n) => ({
        label: `${lineLabel(line)}${line.kind === "candle" ? " (candles)" : ""}`,
        stroke: COLORS[n % COLORS.length],
        width: 1.5,
        spanGaps: true,
        ...(line.kind === "candle" ? { paths: () => null, points: { show: false } } : {}),
      })),
    );
    if (state.charts[pair]) state.charts[pair].destroy();
    const chartBox = section.querySelector(".chart");
    chartBox.replaceChildren();
    state.charts[pair] = new uPlot(
      {
        width: Math.max(480, chartBox.clientWidth || document.body.clientWidth - 60),
        height: 280,
        series,
        scales: {
          x: { time: true, range: [prices.since, prices.until] },
          ...(yRange ? { y: { range: yRange } } : {}),
        },
        axes: [{}, { size: 80 }],
        hooks: { draw: [(u) => drawCandles(u, candleSeries)] },
      },
      columns,
      chartBox,
    );
    state.lines[pair] = prices.lines.map((line) => ({
      source: line.source,
      exchange: line.exchange,
      kind: line.kind,
      points: line.points.length,
      last: line.points.length ? line.points[line.points.length - 1][4] : null,
    }));
    const body = section.querySelector("table.lines tbody");
    body.replaceChildren();
    for (const line of state.lines[pair]) {
      const row = document.createElement("tr");
      row.dataset.line = `${line.source}/${line.exchange}/${line.kind}`;
      cell(row, line.source);
      cell(row, line.exchange);
      cell(row, line.kind);
      cell(row, line.points, "number points");
      cell(row, line.last, "number last-price");
      body.appendChild(row);
    }
    const minutes = prices.bin_seconds / 60;
    section.querySelector(".note").textContent =
      `one point per ${minutes >= 60 ? `${minutes / 60} h` : `${minutes} min`} (the bin's last price)` +
      (prices.truncated ? "; more lines than the chart holds: some are cut short" : "");
  }

  async function refresh() {
    setStatus("Loading…");
    try {
      const overview = await getJson("api/overview");
      showOverview(overview);
      const charts = await Promise.all(
        overview.pairs.map((pair) => getJson(`api/prices?pair=${encodeURIComponent(pair)}&range=${state.range}`)),
      );
      overview.pairs.forEach((pair, n) => showPair(pair, charts[n]));
      if (!overview.pairs.length) setStatus("No prices stored yet.");
      else setStatus(`Range ${state.range}, as of ${new Date(overview.generated_at).toLocaleString()}`);
      document.body.dataset.loaded = state.range;
    } catch (error) {
      setStatus(error.message, true);
    }
    await showLag();
  }

  for (const button of document.querySelectorAll("nav button[data-range]")) {
    button.addEventListener("click", () => {
      state.range = button.dataset.range;
      for (const other of document.querySelectorAll("nav button[data-range]")) {
        other.setAttribute("aria-pressed", String(other === button));
      }
      delete document.body.dataset.loaded;
      refresh();
    });
  }
  refresh();
})();
