// Sessions: conversations that span traces, latest first; one session's traces and its context growth.
import { get } from "../api.js";
import { h, render, svg } from "../dom.js";
import { ago, duration, tokens, usd, when } from "../format.js";
import { href, setParams } from "../router.js";
import { loading, rangeSelect, windowOf } from "../widgets.js";

export async function renderSessions(main, route) {
  render(main, loading("Loading sessions"));
  const p = route.params;
  const page = await get("/v1/sessions", { ...windowOf(p), limit: 50, cursor: p.get("cursor") || undefined });
  render(
    main,
    h("div.page-head", {}, h("h1", {}, "Sessions"), rangeSelect(p, (v) => setParams({ range: v, cursor: "" }))),
    page.sessions.length
      ? h(
          "table.data",
          { "aria-label": "Sessions" },
          h("thead", {}, h("tr", {}, ["Session", "Traces", "LLM calls", "Tokens", "Cost", "Errors", "Last activity"].map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            {},
            page.sessions.map((s) =>
              h(
                "tr",
                {},
                h("th", { scope: "row" }, h("a", { href: href(["sessions", s.session_key]) }, s.session_key)),
                h("td.num", {}, String(s.traces)),
                h("td.num", {}, String(s.llm_calls)),
                h("td.num", {}, tokens(s.total_tokens)),
                h("td.num", {}, usd(s.cost_usd)),
                h("td.num", {}, String(s.errors)),
                h("td", { title: when(s.last_end_ts_ms) }, ago(s.last_end_ts_ms)),
              ),
            ),
          ),
        )
      : h("p.card.empty", {}, "No session in this range."),
    h("nav.pager", { "aria-label": "Pages" }, page.next_cursor ? h("a", { href: href(["sessions"], { ...Object.fromEntries(p), cursor: page.next_cursor }), rel: "next" }, "Next page") : null),
  );
  return { label: "all agents", context: `Sessions page: ${page.sessions.length} sessions shown` };
}

function growthChart(calls) {
  const width = 640;
  const height = 120;
  const max = Math.max(1, ...calls.map((c) => c.context_tokens));
  const step = calls.length > 1 ? width / (calls.length - 1) : width;
  const points = calls.map((c, i) => `${(i * step).toFixed(1)},${(height - (c.context_tokens / max) * height).toFixed(1)}`).join(" ");
  return svg(
    "svg",
    { class: "growth", viewBox: `0 0 ${width} ${height + 4}`, role: "img", "aria-label": `Context tokens per LLM call, ${calls.length} calls, peak ${max}` },
    svg("polyline", { points, class: "line" }),
  );
}

export async function renderSession(main, route, key) {
  render(main, loading("Loading the session"));
  const s = await get(`/v1/sessions/${encodeURIComponent(key)}`);
  const g = s.growth || {};
  render(
    main,
    h("p.crumbs", {}, h("a", { href: "#/sessions" }, "Sessions"), " / ", key),
    h("h1", {}, `Session ${key}`),
    h(
      "section.card",
      { "aria-labelledby": "growth" },
      h("h2", { id: "growth" }, "Context growth"),
      h("p", {}, `${g.calls || 0} LLM calls; context ${tokens(g.first_context_tokens)} → ${tokens(g.last_context_tokens)} tokens, peak ${tokens(g.peak_context_tokens)}`),
      s.calls.length ? growthChart(s.calls) : null,
    ),
    h(
      "table.data",
      { "aria-label": "Traces of the session" },
      h("thead", {}, h("tr", {}, ["Started", "Duration", "LLM / tool calls", "Tokens", "Cost"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        s.traces.map((t) =>
          h(
            "tr",
            { class: t.has_error ? "has-error" : "" },
            h("th", { scope: "row" }, h("a", { href: href(["traces", t.trace_id]) }, when(t.trace_start_ts_ms))),
            h("td.num", {}, duration(t.duration_ms)),
            h("td.num", {}, `${t.llm_calls} / ${t.tool_calls}`),
            h("td.num", {}, tokens(t.total_tokens)),
            h("td.num", {}, usd(t.cost_usd, { unpriced: t.unpriced_llm_calls })),
          ),
        ),
      ),
    ),
    s.truncated ? h("p.notice", {}, "Only the first calls are shown: the session is longer.") : null,
  );
  const agent = s.traces[0]?.agent_id;
  return { label: `session ${key}`, agent_id: agent, context: `Session ${key}: ${s.traces.length} traces, growth ${JSON.stringify(g)}` };
}
