// The call graph: agent sessions, models and tools as nodes (area by invocations), calls as arrows, laid out
// in columns by call depth. Clicking a node lists its invocations; each opens its step.
import { h, render, svg } from "../dom.js";
import { duration, tokens, usd } from "../format.js";

const COL = 220;
const ROW = 90;

function layers(graph) {
  const incoming = new Map(graph.nodes.map((n) => [n.id, 0]));
  const out = new Map(graph.nodes.map((n) => [n.id, []]));
  for (const e of graph.edges) {
    if (e.source === e.target) continue;
    incoming.set(e.target, (incoming.get(e.target) || 0) + 1);
    out.get(e.source)?.push(e.target);
  }
  const depth = new Map();
  const queue = graph.nodes.filter((n) => n.kind === "session" || !incoming.get(n.id)).map((n) => n.id);
  queue.forEach((id) => depth.set(id, 0));
  while (queue.length) {
    const id = queue.shift();
    for (const next of out.get(id) || []) {
      if (!depth.has(next)) {
        depth.set(next, depth.get(id) + 1);
        queue.push(next);
      }
    }
  }
  for (const n of graph.nodes) if (!depth.has(n.id)) depth.set(n.id, 0);
  return depth;
}

export function renderCallGraph(el, graph, spans, { onSelect, selected }) {
  const depth = layers(graph);
  const columns = new Map();
  for (const n of [...graph.nodes].sort((a, b) => b.invocations - a.invocations)) {
    const d = depth.get(n.id);
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(n);
  }
  const pos = new Map();
  const maxRows = Math.max(1, ...[...columns.values()].map((c) => c.length));
  for (const [d, nodes] of columns) nodes.forEach((n, i) => pos.set(n.id, { x: 80 + d * COL, y: 50 + i * ROW + ((maxRows - nodes.length) * ROW) / 2 }));
  const maxInv = Math.max(1, ...graph.nodes.map((n) => n.invocations));
  const radius = (n) => 10 + 22 * Math.sqrt(n.invocations / maxInv);
  const width = 160 + Math.max(0, ...depth.values()) * COL + 80;
  const height = 40 + maxRows * ROW;
  const detail = h("div.node-detail", { "aria-live": "polite" });

  const showNode = (n) => {
    for (const g of el.querySelectorAll("g.gnode")) g.classList.toggle("selected", g.dataset.nodeId === n.id);
    const members = spans.filter((s) => `${s.actor_type}:${s.actor_label}` === n.id);
    detail.replaceChildren(
      h("h3", {}, `${n.kind} ${n.label}`),
      h("p", {}, `${n.invocations} invocations, ${tokens(n.tokens.total)} tokens, ${usd(n.cost_usd, { unpriced: n.unpriced_calls })}, ${n.errors} errors, ${duration(n.total_duration_ms)} in all`),
      h(
        "ol.invocations",
        { "aria-label": `Invocations of ${n.label}` },
        members.map((s) =>
          h(
            "li",
            {},
            h(
              "button",
              { type: "button", class: `link step${s.has_error ? " error" : ""}`, dataset: { spanId: s.span_id }, onclick: () => onSelect(s.span_id) },
              `${duration(s.duration_ms)} · ${tokens(s.total_tokens)} tok · ${s.cost_known ? usd(s.cost_usd) : "unpriced"}${s.has_error ? " · error" : ""}`,
            ),
          ),
        ),
      ),
    );
  };

  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const toward = (from, to, by) => {
    const dx = to.x - from.x;
    const dy = to.y - from.y;
    const len = Math.hypot(dx, dy) || 1;
    return { x: from.x + (dx / len) * by, y: from.y + (dy / len) * by };
  };
  const edges = graph.edges.map((e) => {
    const a = pos.get(e.source);
    const b = pos.get(e.target);
    if (!a || !b) return null;
    const back = b.x <= a.x;
    const mx = (a.x + b.x) / 2;
    const my = back ? Math.max(a.y, b.y) + ROW / 2 : (a.y + b.y) / 2;
    const c = { x: mx, y: back ? my : (a.y + b.y) / 2 - 10 };
    // Arrows start and end on the circles' rims, so the arrowhead is not hidden under the callee.
    const start = toward(a, c, radius(byId.get(e.source)));
    const end = toward(b, c, radius(byId.get(e.target)) + 2);
    const ra = radius(byId.get(e.source));
    const d = e.source === e.target ? `M${a.x},${a.y - ra} c40,-50 60,10 ${ra * 0.6},${ra * 0.9}` : `M${start.x},${start.y} Q${c.x},${c.y} ${end.x},${end.y}`;
    return svg(
      "g",
      { class: "gedge" },
      svg("path", { d, "marker-end": "url(#arrow)" }),
      svg("text", { x: mx, y: (back ? my : (a.y + b.y) / 2) - 4, "text-anchor": "middle" }, `${e.calls}×`),
      svg("title", {}, `${e.source} → ${e.target}: ${e.calls} calls`),
    );
  });
  const nodes = graph.nodes.map((n) => {
    const p = pos.get(n.id);
    const r = radius(n);
    const label = `${n.kind} ${n.label}: ${n.invocations} invocations, ${usd(n.cost_usd, { unpriced: n.unpriced_calls })}${n.errors ? `, ${n.errors} errors` : ""}`;
    return svg(
      "g",
      {
        class: `gnode kind-${n.kind}${n.errors ? " error" : ""}`,
        dataset: { nodeId: n.id },
        tabindex: "0",
        role: "button",
        "aria-label": label,
        onclick: () => showNode(n),
        onkeydown: (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            showNode(n);
          }
        },
      },
      svg("circle", { cx: p.x, cy: p.y, r }),
      svg("text", { x: p.x, y: p.y + r + 14, "text-anchor": "middle" }, n.label),
      svg("text", { x: p.x, y: p.y + 4, "text-anchor": "middle", class: "count" }, String(n.invocations)),
      svg("title", {}, label),
    );
  });
  render(el, 
    h("p.legend", {}, `${graph.nodes.length} actors, ${graph.edges.length} call edges; circle area by invocations. Select an actor to list its calls.`),
    h(
      "div.graph-wrap",
      {},
      h(
        "div.graph-scroll",
        {},
        svg(
          "svg",
          { class: "callgraph", width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": "Call graph" },
          svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z" }))),
          edges,
          nodes,
        ),
      ),
      detail,
    ),
  );
  const owner = selected && spans.find((s) => s.span_id === selected);
  const first = owner ? graph.nodes.find((n) => n.id === `${owner.actor_type}:${owner.actor_label}`) : null;
  if (first) showNode(first);
}
