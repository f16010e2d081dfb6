// The step-detail panel: what a span was given and returned (pretty JSON, collapsible; a payload over the
// API's cut is loaded whole on demand), its tokens by kind, cost, duration and error.
import { get } from "../api.js";
import { h, render } from "../dom.js";
import { duration, tokens, usdExact, when } from "../format.js";
import { jsonView } from "./json.js";
import { badge } from "../widgets.js";

function payload(title, p, reload) {
  const body = h("div.payload-body", {}, jsonView(p.text));
  return h(
    "section.payload",
    { "aria-label": title },
    h("h3", {}, title, " ", h("span.muted", {}, `${p.bytes.toLocaleString("en-US")} bytes`)),
    p.truncated
      ? h("p.notice", {}, "Cut to the first part. ", h("button", { type: "button", class: "load-full", onclick: reload }, `Load all ${p.bytes.toLocaleString("en-US")} bytes`))
      : null,
    body,
  );
}

export async function renderStep(el, traceId, spanId, { onClose }) {
  el.hidden = false;
  el.replaceChildren(h("p.muted", { role: "status" }, "Loading step…"));
  const load = (maxBytes) => get(`/v1/spans/${encodeURIComponent(spanId)}`, { trace_id: traceId, max_bytes: maxBytes });
  let s;
  try {
    s = await load();
  } catch (e) {
    el.replaceChildren(h("p.error", { role: "alert" }, `This step could not be loaded: ${e.message}`));
    return;
  }
  const draw = (span) => {
    const full = () => load(Math.max(span.input_payload.bytes, span.output_payload.bytes) + 64).then(draw, (e) => alert(e.message));
    render(
      el,
      h(
        "div.step-head",
        {},
        h("h2", { id: "step-title", tabindex: "-1" }, `${span.actor_type} · ${span.actor_label}`),
        h("button", { type: "button", class: "close", "aria-label": "Close the step", onclick: onClose }, "×"),
      ),
      h(
        "dl.facts",
        { dataset: { spanId: span.span_id } },
        h("dt", {}, "Span"), h("dd.mono", {}, span.span_id),
        span.model ? [h("dt", {}, "Model"), h("dd", {}, `${span.provider ? span.provider + " / " : ""}${span.model}`)] : null,
        span.tool_name ? [h("dt", {}, "Tool"), h("dd", {}, span.tool_name)] : null,
        h("dt", {}, "Started"), h("dd", {}, when(span.span_start_ts_ms)),
        h("dt", {}, "Duration"), h("dd", { class: "step-duration" }, duration(span.duration_ms)),
        h("dt", {}, "Cost"), h("dd", { class: "step-cost" }, span.cost_known ? usdExact(span.cost_usd) : "unpriced (no known price for this model)"),
        h("dt", {}, "Tokens"),
        h(
          "dd.step-tokens",
          {},
          `input ${span.input_tokens.toLocaleString("en-US")} · output ${span.output_tokens.toLocaleString("en-US")} · cache read ${span.cache_read_tokens.toLocaleString("en-US")} · cache write ${span.cache_write_tokens.toLocaleString("en-US")} · total ${tokens(span.total_tokens)}`,
        ),
      ),
      span.has_error ? h("p.error-box", { role: "note" }, badge("error", "error"), " ", span.error_message || "failed (no message)") : null,
      payload("Input", span.input_payload, full),
      payload("Output", span.output_payload, full),
    );
  };
  draw(s);
  el.querySelector("#step-title")?.focus({ preventScroll: true });
}
