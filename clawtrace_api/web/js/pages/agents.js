// Agents: every agent with traces, error rate, tokens, cost and last seen, and its cost and traces per day.
import { get } from "../api.js";
import { h, render } from "../dom.js";
import { ago, pct, tokens, usd, when } from "../format.js";
import { href, setParams } from "../router.js";
import { dayBars, loading, metricCards, rangeSelect, windowOf } from "../widgets.js";

export async function renderAgents(main, route) {
  render(main, loading("Loading agents"));
  const range = windowOf(route.params);
  const [agents, all] = await Promise.all([
    get("/v1/agents"),
    get("/v1/traces", { ...range, limit: 1 }),
  ]);
  // Per-day trends for each agent (the list endpoint computes them over the whole window, not the page).
  const trends = await Promise.all(
    agents.agents.slice(0, 50).map((a) => get("/v1/traces", { ...range, agent_id: a.agent_id, limit: 1 }).then((r) => r.trends)),
  );
  const rows = agents.agents.map((a, i) =>
    h(
      "tr",
      { dataset: { agent: a.agent_id } },
      h("th", { scope: "row" }, h("a", { href: href(["agents", a.agent_id], route.params.get("range") ? { range: route.params.get("range") } : {}) }, a.agent_name || a.agent_id)),
      h("td.num", {}, String(a.traces)),
      h("td.num", { class: a.error_rate > 0 ? "warn" : "" }, pct(a.error_rate)),
      h("td.num", {}, tokens(a.total_tokens)),
      h("td.num", {}, usd(a.cost_usd, { unpriced: a.unpriced_llm_calls })),
      h("td", { title: when(a.last_seen_ts_ms) }, ago(a.last_seen_ts_ms)),
      h("td", {}, trends[i] ? dayBars(trends[i], "cost_usd", { label: "Cost", format: usd, width: 140, height: 28 }) : ""),
      h("td", {}, trends[i] ? dayBars(trends[i], "traces", { label: "Traces", width: 140, height: 28 }) : ""),
    ),
  );
  render(
    main,
    h("div.page-head", {}, h("h1", {}, "Agents"), rangeSelect(route.params, (v) => setParams({ range: v }))),
    metricCards(all.metrics),
    h(
      "section.card",
      { "aria-labelledby": "per-day" },
      h("h2", { id: "per-day" }, "Per day"),
      h("div.charts", {}, h("figure", {}, h("figcaption", {}, "Cost"), dayBars(all.trends, "cost_usd", { label: "Cost", format: usd })), h("figure", {}, h("figcaption", {}, "Traces"), dayBars(all.trends, "traces", { label: "Traces" }))),
    ),
    agents.agents.length
      ? h(
          "table.data",
          { "aria-label": "Agents" },
          h("thead", {}, h("tr", {}, ["Agent", "Traces (all time)", "Error rate", "Tokens", "Cost", "Last seen", "Cost per day", "Traces per day"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, rows),
        )
      : h("p.card", {}, "No agent has sent a trace in this range. Run `make demo`, or point the ClawTrace plugin at this API."),
  );
  return { label: "all agents", context: `Agents page: ${agents.agents.length} agents; totals ${JSON.stringify(all.metrics)}` };
}
