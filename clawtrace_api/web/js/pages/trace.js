// A trace: its three views (execution path, call graph, timeline), switchable; the step-detail panel; the
// TraceCard. View and step live in the URL, and changing them redraws only what changed.
import { ApiError, get } from "../api.js";
import { h, render } from "../dom.js";
import { duration, short, tokens, usd, when } from "../format.js";
import { href, setParams } from "../router.js";
import { renderCallGraph } from "../views/callgraph.js";
import { renderCard } from "../views/card.js";
import { renderStep } from "../views/step.js";
import { renderTimeline } from "../views/timeline.js";
import { renderTree } from "../views/tree.js";
import { badge, loading } from "../widgets.js";

const VIEWS = [
  ["tree", "Execution path"],
  ["graph", "Call graph"],
  ["timeline", "Timeline"],
];
const ENDPOINT = { tree: "tree", graph: "graph", timeline: "timeline" };

export async function renderTrace(main, route, traceId) {
  const base = `/v1/traces/${encodeURIComponent(traceId)}`;
  const viewOf = (r) => (ENDPOINT[r.params.get("view")] ? r.params.get("view") : "tree");
  let view = viewOf(route);
  render(main, loading("Loading the trace"));
  const cache = {};
  const fetchView = (v) => (cache[v] ||= get(`${base}/${ENDPOINT[v]}`));
  // The detail (meta + spans) and the first view in parallel: the first view is what the user waits for.
  const [detail] = await Promise.all([get(base), fetchView(view)]);
  const meta = detail.meta;

  const tabs = h("div.tabs", { role: "tablist", "aria-label": "Views of the trace" });
  const panel = h("section.view", { role: "tabpanel", id: "view-panel", tabindex: "-1" });
  const step = h("aside.step-panel", { "aria-label": "Step detail", hidden: true, id: "step" });
  const cardBox = h("aside.card.trace-card", { "aria-label": "TraceCard" }, loading("Loading the TraceCard"));
  let state = { view: null, span: null, tool: null };
  // The TraceCard once loaded, and the view its links were drawn for (they open steps in that view).
  let card = null;
  let cardView = null;

  const select = (spanId) => setParams({ span: spanId });
  const drawTabs = () =>
    tabs.replaceChildren(
      ...VIEWS.map(([v, label]) =>
        h(
          "button",
          {
            type: "button",
            role: "tab",
            id: `tab-${v}`,
            "aria-selected": String(v === view),
            "aria-controls": "view-panel",
            tabindex: v === view ? "0" : "-1",
            onclick: () => setParams({ view: v }),
            onkeydown: (e) => {
              const i = VIEWS.findIndex(([x]) => x === view);
              const next = e.key === "ArrowRight" ? VIEWS[(i + 1) % 3] : e.key === "ArrowLeft" ? VIEWS[(i + 2) % 3] : null;
              if (next) {
                setParams({ view: next[0] });
                setTimeout(() => document.getElementById(`tab-${next[0]}`)?.focus(), 0);
              }
            },
          },
          label,
        ),
      ),
    );

  const draw = async (r) => {
    view = viewOf(r);
    const span = r.params.get("span");
    const tool = r.params.get("tool");
    const changedView = view !== state.view || tool !== state.tool;
    const changedSpan = span !== state.span;
    state = { view, span, tool };
    drawTabs();
    if (changedView || changedSpan) {
      panel.setAttribute("aria-labelledby", `tab-${view}`);
      const data = await fetchView(view);
      const opts = { onSelect: select, selected: span, tool };
      if (view === "tree") renderTree(panel, data, opts);
      else if (view === "graph") renderCallGraph(panel, data, detail.spans, opts);
      else renderTimeline(panel, data, opts);
      panel.dataset.view = view;
    }
    if (changedSpan) {
      if (span) renderStep(step, traceId, span, { onClose: () => setParams({ span: "" }) });
      else step.hidden = true;
    }
    if (card && cardView !== view) {
      renderCard(cardBox, card, traceId, view);
      cardView = view;
    }
  };

  render(
    main,
    h("p.crumbs", {}, h("a", { href: "#/agents" }, "Agents"), " / ", h("a", { href: href(["agents", meta.agent_id]) }, meta.agent_name || short(meta.agent_id)), " / ", `trace ${short(traceId, 12)}`),
    h(
      "div.page-head",
      {},
      h("h1", {}, `Trace ${short(traceId, 12)}`),
      badge(meta.status, meta.status === "complete" ? "ok" : "warn"),
      meta.has_error ? badge(`${meta.error_count} error${meta.error_count === 1 ? "" : "s"}`, "error") : null,
    ),
    h(
      "p.trace-facts",
      {},
      `${when(meta.trace_start_ts_ms)} · ${duration(meta.duration_ms)} · ${meta.llm_calls} LLM calls · ${meta.tool_calls} tool calls · ${meta.subagents} sub-agents · ${tokens(meta.total_tokens)} tokens · `,
      h("strong", { class: "trace-cost" }, usd(meta.cost_usd, { unpriced: meta.unpriced_llm_calls })),
      meta.session_key ? [" · session ", h("a", { href: href(["sessions", meta.session_key]) }, meta.session_key)] : null,
    ),
    tabs,
    h("div.trace-grid", {}, panel, h("div.side", {}, step, cardBox)),
  );
  await draw(route);
  // bench/ui_page.py reads this mark: the time from navigation to the first view on screen.
  performance.mark("clawtrace:first-view", { detail: { traceId, view } });
  get(`${base}/card`).then(
    (loaded) => {
      card = loaded;
      renderCard(cardBox, card, traceId, view);
      cardView = view;
    },
    (e) => cardBox.replaceChildren(h("h2", {}, "TraceCard"), h("p.muted", {}, e instanceof ApiError && e.status === 404 ? "Not built yet: the next tick writes it." : e.message)),
  );
  return {
    label: `trace ${short(traceId, 12)}`,
    trace_id: traceId,
    agent_id: meta.agent_id,
    context: `Trace page of ${traceId}: ${JSON.stringify(meta)}`,
    update: (r) => (r.parts[0] === "traces" && r.parts[1] === traceId ? draw(r).then(() => true) : false),
  };
}
