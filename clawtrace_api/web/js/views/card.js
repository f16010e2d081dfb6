// The TraceCard beside the views: the costliest steps, redundant tool calls, failed and repaired steps,
// context growth. Each entry with a step links to it (the current view, that step open).
import { h, render } from "../dom.js";
import { tokens, usd } from "../format.js";
import { href } from "../router.js";

export function renderCard(el, card, traceId, view) {
  const link = (spanId, text) => h("a", { href: href(["traces", traceId], { view, span: spanId }), class: "card-link", dataset: { spanId } }, text);
  const section = (title, items, empty) =>
    h("section", {}, h("h3", {}, title), items.length ? h("ol", {}, items.map((i) => h("li", {}, i))) : h("p.muted", {}, empty));
  const red = card.redundant_tool_calls || { listed: [] };
  const growth = card.context_growth || {};
  render(el, 
    h("h2", {}, "TraceCard"),
    h("p", {}, `${usd(card.totals.cost_usd, { unpriced: card.totals.unpriced_calls })} over ${card.totals.llm_calls} LLM and ${card.totals.tool_calls} tool calls`),
    section("Top cost steps", (card.top_cost_steps || []).map((s) => [link(s.span_id, `${s.label}`), ` ${usd(s.cost_usd)} (${Math.round(s.share * 100)}%), ${tokens(s.tokens)} tok`]), "no priced step"),
    section(
      `Redundant tool calls (${red.extra_calls || 0} extra)`,
      red.listed.map((r) => [h("a", { href: href(["traces", traceId], { view, tool: r.tool }), class: "card-link" }, r.tool), ` ${r.calls} identical calls, ${usd(r.wasted_cost_usd)} wasted`]),
      "none",
    ),
    section(`Failed steps (${card.failed_steps?.count || 0})`, (card.failed_steps?.listed || []).map((f) => [link(f.span_id, f.label), ` ${f.error || ""}`]), "none"),
    section(
      `Repaired steps (${card.repaired_steps?.count || 0})`,
      (card.repaired_steps?.listed || []).map((r) => [link(r.span_id, r.tool), " repaired by ", link(r.repaired_by, "the retry")]),
      "none",
    ),
    section(
      "Context growth",
      growth.first_llm_input_tokens !== undefined && growth.first_llm_input_tokens !== null
        ? [
            `${tokens(growth.first_llm_input_tokens)} → ${tokens(growth.last_llm_input_tokens)} input tokens`,
            growth.max_jump_span_id ? [`largest jump ${tokens(growth.max_jump_tokens)} at `, link(growth.max_jump_span_id, "this call")] : null,
          ].filter(Boolean)
        : [],
      "no LLM call",
    ),
  );
}
