// A payload as collapsible, pretty JSON. Objects and arrays are <details>; their contents are built only
// when opened, so a megabyte payload costs nothing until someone looks inside it.
import { h } from "../dom.js";

const OPEN_DEPTH = 2;
const MAX_CHILDREN = 500;

function leaf(value) {
  if (value === null) return h("span.j-null", {}, "null");
  if (typeof value === "string") return h("span.j-str", {}, JSON.stringify(value));
  if (typeof value === "number") return h("span.j-num", {}, String(value));
  if (typeof value === "boolean") return h("span.j-bool", {}, String(value));
  return h("span", {}, String(value));
}

function node(key, value, depth) {
  const label = key === null ? null : h("span.j-key", {}, `${JSON.stringify(key)}: `);
  if (value === null || typeof value !== "object") return h("div.j-row", {}, label, leaf(value));
  const isArray = Array.isArray(value);
  const entries = isArray ? value.map((v, i) => [i, v]) : Object.entries(value);
  const summary = h("summary", {}, label, isArray ? `[${entries.length}]` : `{${entries.length}}`);
  const box = h("details.j-box", { open: depth < OPEN_DEPTH }, summary);
  const fill = () => {
    if (box.dataset.filled) return;
    box.dataset.filled = "1";
    const shown = entries.slice(0, MAX_CHILDREN);
    box.append(h("div.j-children", {}, shown.map(([k, v]) => node(isArray ? null : k, v, depth + 1))));
    if (entries.length > shown.length) box.append(h("p.muted", {}, `… ${entries.length - shown.length} more`));
  };
  if (depth < OPEN_DEPTH) fill();
  box.addEventListener("toggle", () => box.open && fill());
  return box;
}

/** `text` pretty-printed when it is JSON, shown as it is otherwise (a cut payload is not valid JSON). */
export function jsonView(text) {
  if (text === null || text === undefined) return h("p.muted", {}, "none recorded");
  try {
    return h("div.json", {}, node(null, JSON.parse(text), 0));
  } catch {
    return h("pre.raw", {}, text);
  }
}
