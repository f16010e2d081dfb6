// Costs grouped by model, tool, agent, day, session or category; calls without a known price shown apart,
// never priced at zero inside a sum.
import { get } from "../api.js";
import { h, render } from "../dom.js";
import { tokens, usd } from "../format.js";
import { setParams } from "../router.js";
import { loading, rangeSelect, windowOf } from "../widgets.js";

const GROUPS = ["model", "tool", "agent", "day", "session", "category"];

export async function renderCosts(main, route) {
  render(main, loading("Loading costs"));
  const p = route.params;
  const groupBy = GROUPS.includes(p.get("group_by")) ? p.get("group_by") : "model";
  const [data, agents] = await Promise.all([get("/v1/costs", { ...windowOf(p), group_by: groupBy }), get("/v1/agents")]);
  const names = new Map(agents.agents.map((a) => [a.agent_id, a.agent_name]));
  const total = data.totals.cost_usd;
  const unpriced = data.totals.unpriced_calls;
  const max = Math.max(1e-12, ...data.groups.map((g) => g.cost_usd));
  const label = (g) => (groupBy === "agent" ? names.get(g.key) || g.key : g.key) ?? "(none)";
  const rows = [...data.groups, ...(data.other ? [{ ...data.other, key: "other" }] : [])];
  render(
    main,
    h(
      "div.page-head",
      {},
      h("h1", {}, "Costs"),
      h(
        "label.field",
        {},
        "Group by",
        h("select", { name: "group_by", onchange: (e) => setParams({ group_by: e.target.value }) }, GROUPS.map((g) => h("option", { value: g, selected: g === groupBy }, g))),
      ),
      rangeSelect(p, (v) => setParams({ range: v })),
    ),
    h("p.total", {}, `Total ${usd(total)} in this range`, unpriced ? h("span.unpriced-note", {}, ` · ${unpriced} calls unpriced (no known price; not in any sum)`) : null),
    h(
      "table.data",
      { "aria-label": `Costs by ${groupBy}` },
      h("thead", {}, h("tr", {}, [groupBy, "Cost", "", "Priced calls", "Unpriced calls", "Traces", "Tokens"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        rows.map((g) =>
          h(
            "tr",
            { class: g.unpriced_calls ? "has-unpriced" : "" },
            h("th", { scope: "row" }, label(g)),
            h("td.num", {}, usd(g.cost_usd)),
            h("td", { "aria-hidden": "true" }, h("span.hbar", { dataset: { w: String(Math.round((g.cost_usd / max) * 100)) } })),
            h("td.num", {}, String(g.priced_calls)),
            h("td.num", { class: g.unpriced_calls ? "warn" : "" }, String(g.unpriced_calls)),
            h("td.num", {}, String(g.traces)),
            h("td.num", {}, tokens(g.total_tokens)),
          ),
        ),
      ),
    ),
  );
  // Widths through the CSSOM: the page's CSP allows no inline style attribute.
  for (const bar of main.querySelectorAll(".hbar")) bar.style.width = `${bar.dataset.w}%`;
  return { label: "all agents", context: `Costs by ${groupBy}: ${JSON.stringify(rows.slice(0, 30))}` };
}
