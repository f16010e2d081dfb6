// Pieces several pages share: metric cards, a per-day bar chart (SVG, no library), the time-range picker.
import { h, svg } from "./dom.js";
import { pct, tokens, usd } from "./format.js";

export const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3, "90d": 90 * 86400e3 };

/** The API's [from_ms, to_ms) for the URL's `range` (default 7d); `from`/`to` (epoch ms) win when given. */
export function windowOf(params) {
  if (params.get("from")) return { from_ms: params.get("from"), to_ms: params.get("to") || undefined };
  const span = RANGES[params.get("range") || "7d"] || RANGES["7d"];
  const now = Date.now();
  return { from_ms: Math.max(0, now - span), to_ms: now };
}

export function rangeSelect(params, onchange) {
  const value = params.get("range") || "7d";
  return h(
    "label.field",
    {},
    "Time range",
    h(
      "select",
      { name: "range", onchange: (e) => onchange(e.target.value) },
      Object.keys(RANGES).map((k) => h("option", { value: k, selected: k === value }, `last ${k}`)),
    ),
  );
}

export function metricCards(m) {
  const card = (label, value, title) => h("div.metric", { title }, h("span.metric-label", {}, label), h("span.metric-value", {}, value));
  return h(
    "div.metrics",
    { role: "group", "aria-label": "Metrics" },
    card("Traces", String(m.traces ?? 0)),
    card("Cost", usd(m.cost_usd), m.unpriced_llm_calls ? `${m.unpriced_llm_calls} unpriced calls are not in the sum` : undefined),
    card("Tokens", tokens(m.total_tokens)),
    card("Error rate", pct(m.error_rate)),
    m.unpriced_llm_calls ? card("Unpriced calls", String(m.unpriced_llm_calls), "LLM calls whose model has no known price") : null,
  );
}

/** Bars per day for one measure of `trends` ([{day, ...}]), labelled for screen readers as a table would be. */
export function dayBars(trends, key, { label, format = String, width = 320, height = 80 } = {}) {
  const values = trends.map((t) => Number(t[key] || 0));
  const max = Math.max(...values, 0) || 1;
  const bw = trends.length ? width / trends.length : width;
  const description = trends.map((t, i) => `${t.day}: ${format(values[i])}`).join(", ");
  return svg(
    "svg",
    { class: "bars", viewBox: `0 0 ${width} ${height + 14}`, role: "img", "aria-label": `${label} per day: ${description || "none"}` },
    trends.map((t, i) => {
      const bh = Math.max(1, (values[i] / max) * height);
      return svg(
        "rect",
        { x: i * bw + 1, y: height - bh, width: Math.max(1, bw - 2), height: bh, class: "bar" },
        svg("title", {}, `${t.day}: ${format(values[i])}`),
      );
    }),
    trends.length
      ? [
          svg("text", { x: 0, y: height + 12, class: "axis" }, trends[0].day),
          svg("text", { x: width, y: height + 12, class: "axis", "text-anchor": "end" }, trends[trends.length - 1].day),
        ]
      : svg("text", { x: 0, y: height / 2, class: "axis" }, "no traces in this range"),
  );
}

export function badge(text, kind = "") {
  return h(`span.badge${kind ? "." + kind : ""}`, {}, text);
}

export function loading(what = "Loading") {
  return h("p.muted", { role: "status" }, `${what}…`);
}
