// The timeline: a Gantt chart of spans by lane (the API's lanes never overlap), colour by kind, the critical
// path outlined, idle gaps hatched across every lane. SVG, so each bar is an element a click or a test finds.
import { h, render, svg } from "../dom.js";
import { duration } from "../format.js";

const LANE = 20;
const AXIS = 22;

function ticks(total, width) {
  const target = Math.max(2, Math.floor(width / 110));
  const raw = total / target;
  const mag = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = 0; t <= total; t += step) out.push(t);
  return out;
}

export function renderTimeline(el, tl, { onSelect, selected, tool }) {
  const width = Math.max(640, (el.clientWidth || 900) - 24);
  const total = Math.max(1, tl.duration_ms);
  const x = (ms) => (ms / total) * (width - 4) + 2;
  const height = AXIS + tl.lanes * LANE + 4;
  const spanTool = new Map();
  const bars = tl.bars.map((b) => {
    const w = Math.max(2, x(b.start_offset_ms + b.duration_ms) - x(b.start_offset_ms));
    const classes = ["bar", `kind-${b.kind}`];
    if (b.on_critical_path) classes.push("critical");
    if (b.has_error) classes.push("error");
    if (b.span_id === selected) classes.push("selected");
    if (tool && b.label === tool && b.kind === "tool_call") classes.push("highlight");
    spanTool.set(b.span_id, b.label);
    const label = `${b.kind} ${b.label}: ${duration(b.duration_ms)} from +${duration(b.start_offset_ms)}${b.on_critical_path ? ", on the critical path" : ""}${b.has_error ? ", failed" : ""}`;
    return svg(
      "g",
      {
        class: classes.join(" "),
        dataset: { spanId: b.span_id },
        tabindex: "0",
        role: "button",
        "aria-label": label,
        onclick: () => onSelect(b.span_id),
        onkeydown: (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            onSelect(b.span_id);
          }
        },
      },
      svg("rect", { x: x(b.start_offset_ms), y: AXIS + b.lane * LANE + 2, width: w, height: LANE - 4, rx: 2 }),
      w > 60 ? svg("text", { x: x(b.start_offset_ms) + 4, y: AXIS + b.lane * LANE + LANE / 2 + 4 }, b.label) : null,
      svg("title", {}, label),
    );
  });
  const gaps = tl.idle_gaps.map((g) =>
    svg(
      "rect",
      { class: "idle", x: x(g.start_offset_ms), y: AXIS, width: Math.max(1, x(g.start_offset_ms + g.duration_ms) - x(g.start_offset_ms)), height: tl.lanes * LANE },
      svg("title", {}, `idle ${duration(g.duration_ms)} (no LLM or tool call)`),
    ),
  );
  const axis = ticks(total, width).map((t) => [
    svg("line", { class: "tick", x1: x(t), x2: x(t), y1: AXIS - 4, y2: height }),
    svg("text", { class: "axis", x: x(t) + 2, y: AXIS - 8 }, `+${duration(t)}`),
  ]);
  render(el, 
    h(
      "p.legend",
      {},
      `${tl.bars.length} spans in ${tl.lanes} lanes over ${duration(tl.duration_ms)}; critical path ${tl.critical_path.length} spans (outlined); `,
      `${tl.idle_gaps.length} idle gaps over ${duration(tl.idle_threshold_ms)} (hatched).`,
    ),
    h(
      "div.timeline-scroll",
      {},
      svg(
        "svg",
        { class: "timeline", width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": "Timeline" },
        svg("defs", {}, svg("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch" }))),
        axis,
        gaps,
        bars,
      ),
    ),
  );
  const current = selected && el.querySelector(`g.bar[data-span-id="${CSS.escape(selected)}"]`);
  if (current) current.scrollIntoView({ block: "nearest", inline: "nearest" });
}
