// One agent's traces: the API's filters and sorts, cursor paging, metric cards; all of it in the URL.
import { get } from "../api.js";
import { h, render } from "../dom.js";
import { duration, tokens, usd, when } from "../format.js";
import { href, setParams } from "../router.js";
import { badge, dayBars, loading, metricCards, rangeSelect, windowOf } from "../widgets.js";

const FILTERS = ["category", "has_error", "model", "tool", "min_cost_usd", "sort"];

function filterForm(params, models, tools) {
  const select = (name, label, options, all = "any") =>
    h(
      "label.field",
      {},
      label,
      h(
        "select",
        { name, onchange: (e) => setParams({ [name]: e.target.value, cursor: "" }) },
        h("option", { value: "" }, all),
        options.map(([v, text]) => h("option", { value: v, selected: params.get(name) === v }, text)),
      ),
    );
  return h(
    "form.filters",
    { role: "search", "aria-label": "Filter traces", onsubmit: (e) => e.preventDefault() },
    rangeSelect(params, (v) => setParams({ range: v, cursor: "" })),
    select("category", "Category", ["Work", "Heartbeat", "Compact Memory"].map((c) => [c, c])),
    select("has_error", "Errors", [["true", "with errors"], ["false", "without errors"]]),
    select("model", "Model", models.map((m) => [m, m])),
    select("tool", "Tool", tools.map((t) => [t, t])),
    h(
      "label.field",
      {},
      "Min cost ($)",
      h("input", {
        name: "min_cost_usd",
        type: "number",
        min: "0",
        step: "0.01",
        value: params.get("min_cost_usd") || "",
        onchange: (e) => setParams({ min_cost_usd: e.target.value, cursor: "" }),
      }),
    ),
    select("sort", "Sort by", [["cost", "cost"], ["duration", "duration"]], "start time"),
  );
}

export async function renderTraces(main, route, agentId) {
  render(main, loading("Loading traces"));
  const p = route.params;
  const query = { ...windowOf(p), agent_id: agentId, limit: 50, cursor: p.get("cursor") || undefined };
  for (const f of FILTERS) if (p.get(f)) query[f] = p.get(f);
  const [agents, page, models, tools] = await Promise.all([
    get("/v1/agents"),
    get("/v1/traces", query),
    get("/v1/costs", { ...windowOf(p), group_by: "model" }),
    get("/v1/costs", { ...windowOf(p), group_by: "tool" }),
  ]);
  const agent = agents.agents.find((a) => a.agent_id === agentId);
  const name = agent?.agent_name || agentId;
  const rows = page.traces.map((t) =>
    h(
      "tr",
      { dataset: { trace: t.trace_id }, class: t.has_error ? "has-error" : "" },
      h("th", { scope: "row" }, h("a", { href: href(["traces", t.trace_id]) }, when(t.trace_start_ts_ms))),
      h("td", {}, t.category || "—"),
      h("td", {}, t.session_key ? h("a", { href: href(["sessions", t.session_key]) }, t.session_key) : "—"),
      h("td.num", {}, duration(t.duration_ms)),
      h("td.num", {}, `${t.llm_calls} / ${t.tool_calls}`),
      h("td.num", {}, tokens(t.total_tokens)),
      h("td.num", {}, usd(t.cost_usd, { unpriced: t.unpriced_llm_calls })),
      h("td", {}, t.has_error ? badge(`${t.error_count} errors`, "error") : badge("ok", "ok")),
    ),
  );
  const nav = h(
    "nav.pager",
    { "aria-label": "Pages" },
    p.get("cursor") ? h("a", { href: href(["agents", agentId], { ...Object.fromEntries(p), cursor: "" }) }, "First page") : null,
    page.next_cursor ? h("a", { href: href(["agents", agentId], { ...Object.fromEntries(p), cursor: page.next_cursor }), rel: "next" }, "Next page") : null,
  );
  render(
    main,
    h("p.crumbs", {}, h("a", { href: "#/agents" }, "Agents"), " / ", name),
    h("div.page-head", {}, h("h1", {}, `Traces of ${name}`)),
    filterForm(p, models.groups.map((g) => g.key).filter(Boolean), tools.groups.map((g) => g.key).filter(Boolean)),
    metricCards(page.metrics),
    h("div.charts", {}, h("figure", {}, h("figcaption", {}, "Cost per day"), dayBars(page.trends, "cost_usd", { label: "Cost", format: usd })), h("figure", {}, h("figcaption", {}, "Traces per day"), dayBars(page.trends, "traces", { label: "Traces" }))),
    page.traces.length
      ? h(
          "table.data",
          { "aria-label": "Traces" },
          h("thead", {}, h("tr", {}, ["Started", "Category", "Session", "Duration", "LLM / tool calls", "Tokens", "Cost", "Status"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, rows),
        )
      : h("p.card.empty", {}, "No trace matches these filters."),
    nav,
  );
  return { label: `agent ${name}`, agent_id: agentId, context: `Trace list of agent ${name}, filters ${JSON.stringify(query)}; metrics ${JSON.stringify(page.metrics)}` };
}
