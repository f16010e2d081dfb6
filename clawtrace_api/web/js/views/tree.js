// The execution path: a collapsible tree of spans with kind, label, model, duration, tokens and cost; errors
// outlined in red. Large trees render their deep levels only when opened, so 2,000 spans draw at once.
import { h, render } from "../dom.js";
import { duration, tokens, usd } from "../format.js";
import { badge } from "../widgets.js";

const EAGER_NODES = 400;

function countNodes(nodes) {
  let n = 0;
  const stack = [...nodes];
  while (stack.length) {
    const node = stack.pop();
    n += 1;
    stack.push(...node.children);
  }
  return n;
}

function pathTo(nodes, spanId) {
  for (const node of nodes) {
    if (node.span_id === spanId) return [node.span_id];
    const below = pathTo(node.children, spanId);
    if (below) return [node.span_id, ...below];
  }
  return null;
}

/** Draws `tree` (the API's /tree) into `el`; `onSelect(spanId)` when a step is clicked. */
export function renderTree(el, tree, { onSelect, selected, tool }) {
  const big = countNodes(tree.roots) > EAGER_NODES;
  const open = new Set(selected ? pathTo(tree.roots, selected) || [] : []);

  const item = (node, depth) => {
    const li = h("li", { role: "treeitem", "aria-level": depth + 1, dataset: { spanId: node.span_id } });
    const hasChildren = node.children.length > 0;
    let group = null;
    const expanded = hasChildren && (!big || depth < 2 || open.has(node.span_id));
    const build = () => {
      group = h("ul", { role: "group" }, node.children.map((c) => item(c, depth + 1)));
      li.append(group);
    };
    const toggle = hasChildren
      ? h(
          "button.toggle",
          {
            type: "button",
            "aria-label": `${expanded ? "Collapse" : "Expand"} ${node.label}`,
            onclick: () => {
              const now = li.getAttribute("aria-expanded") !== "true";
              if (now && !group) build();
              if (group) group.hidden = !now;
              li.setAttribute("aria-expanded", String(now));
              toggle.textContent = now ? "▾" : "▸";
              toggle.setAttribute("aria-label", `${now ? "Collapse" : "Expand"} ${node.label}`);
            },
          },
          expanded ? "▾" : "▸",
        )
      : h("span.toggle-space", { "aria-hidden": "true" });
    if (hasChildren) li.setAttribute("aria-expanded", String(expanded));
    const classes = ["step", `kind-${node.kind}`];
    if (node.has_error) classes.push("error");
    if (node.span_id === selected) classes.push("selected");
    if (tool && node.tool_name === tool) classes.push("highlight");
    const row = h(
      "button",
      {
        type: "button",
        class: classes.join(" "),
        dataset: { spanId: node.span_id },
        "aria-current": node.span_id === selected ? "true" : undefined,
        title: node.error_message || undefined,
        onclick: () => onSelect(node.span_id),
      },
      badge(node.kind, `kind-${node.kind}`),
      h("span.label", {}, node.label),
      node.model && node.model !== node.label ? badge(node.model, "model") : null,
      badge(duration(node.duration_ms), "dur"),
      node.tokens.total ? badge(`${tokens(node.tokens.total)} tok`, "tok") : null,
      badge(node.cost_usd === null ? "unpriced" : usd(node.cost_usd), node.cost_usd === null ? "unpriced" : "cost"),
      hasChildren && node.subtree_cost_usd !== node.cost_usd ? badge(`Σ ${usd(node.subtree_cost_usd)}`, "subtree") : null,
      node.has_error ? badge("error", "error") : null,
    );
    li.append(h("div.node", {}, toggle, row));
    if (expanded) build();
    return li;
  };

  render(el, 
    h("ul.tree", { role: "tree", "aria-label": "Execution path" }, tree.roots.map((r) => item(r, 0))),
  );
  const current = selected && el.querySelector(`button.step[data-span-id="${CSS.escape(selected)}"]`);
  if (current) current.scrollIntoView({ block: "nearest" });
}
