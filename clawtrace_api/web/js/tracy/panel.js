// Ask Tracy, on every page, scoped to it: a question from a trace's page is confined to that trace, from an
// agent's page to that agent. The answer streams (SSE): text as it comes, each tool call as a collapsible
// block with its query and row count, charts drawn from Tracy's ECharts options.
import { ApiError, streamEvents } from "../api.js";
import { h } from "../dom.js";
import { usd } from "../format.js";
import { drawChart } from "./charts.js";

export class Tracy {
  constructor(el, toggle) {
    this.el = el;
    this.toggle = toggle;
    this.scope = { label: "all agents" };
    this.sessions = new Map();
    this.busy = null;
    toggle.addEventListener("click", () => (this.el.hidden ? this.show() : this.hide()));
    this.scopeLine = h("p.tracy-scope", { id: "tracy-scope" });
    this.log = h("div.tracy-log", { role: "log", "aria-live": "polite", "aria-label": "Tracy's answers" });
    this.input = h("textarea", { id: "tracy-question", rows: 3, name: "question", required: true, maxlength: 8000, placeholder: "Why did this run cost so much?" });
    this.send = h("button", { type: "submit" }, "Ask");
    this.form = h(
      "form.tracy-form",
      { onsubmit: (e) => (e.preventDefault(), this.ask(this.input.value.trim())) },
      h("label", { for: "tracy-question" }, "Your question"),
      this.input,
      h("div.row", {}, this.send, h("button", { type: "button", class: "secondary", onclick: () => this.reset() }, "New conversation")),
    );
    this.el.append(h("div.tracy-head", {}, h("h2", {}, "Ask Tracy"), h("button", { type: "button", class: "close", "aria-label": "Close Tracy", onclick: () => this.hide() }, "×")), this.scopeLine, this.log, this.form);
  }

  show() {
    this.el.hidden = false;
    this.toggle.setAttribute("aria-expanded", "true");
    this.input.focus();
  }

  hide() {
    this.el.hidden = true;
    this.toggle.setAttribute("aria-expanded", "false");
  }

  key() {
    return `${this.scope.agent_id || ""}|${this.scope.trace_id || ""}`;
  }

  setScope(scope) {
    this.scope = scope;
    this.scopeLine.textContent = `Answers about ${scope.label}.`;
  }

  reset() {
    this.sessions.delete(this.key());
    this.log.replaceChildren();
  }

  async ask(question) {
    if (!question || this.busy) return;
    this.input.value = "";
    this.log.append(h("div.msg.user", {}, question));
    const answer = h("div.msg.assistant", { "aria-busy": "true" });
    let text = h("p.text");
    answer.append(text);
    this.log.append(answer);
    const tools = new Map();
    this.busy = new AbortController();
    this.send.disabled = true;
    const body = { question, session_id: this.sessions.get(this.key()) };
    if (this.scope.trace_id) body.trace_id = this.scope.trace_id;
    else if (this.scope.agent_id) body.agent_id = this.scope.agent_id;
    if (this.scope.context) body.page_context = this.scope.context.slice(0, 20000);
    try {
      for await (const { event, data } of streamEvents("/v1/tracy/chat", body, { signal: this.busy.signal })) {
        if (event === "session") this.sessions.set(this.key(), data.session_id);
        else if (event === "text") text.append(data.text);
        else if (event === "tool_started") {
          const block = h(
            "details.tool",
            { dataset: { toolId: data.id } },
            h("summary", {}, `${data.name} `, h("span.muted", {}, "running…")),
            h("pre.mono", {}, data.input.query || JSON.stringify(data.input, null, 2)),
          );
          tools.set(data.id, block);
          answer.append(block);
          text = h("p.text");
          answer.append(text);
        } else if (event === "tool_finished") {
          const block = tools.get(data.id);
          const rows = data.summary?.rows;
          const note = data.is_error ? `failed: ${data.summary?.error || "refused"}` : rows !== undefined ? `${rows} rows${data.summary?.truncated ? " (cut)" : ""}` : "done";
          block?.querySelector("summary span").replaceChildren(note);
          block?.classList.toggle("error", Boolean(data.is_error));
        } else if (event === "chart") {
          const box = h("figure.chart", {}, h("figcaption", {}, data.title || "Chart"));
          const canvas = h("div.chart-canvas", { role: "img", "aria-label": data.title || "Chart" });
          box.append(canvas);
          answer.insertBefore(box, text);
          drawChart(canvas, data.option).catch((e) => canvas.replaceWith(h("pre.mono", {}, `${e.message}\n${JSON.stringify(data.option, null, 2)}`)));
        } else if (event === "done") {
          const u = data.usage || {};
          answer.append(h("p.usage.muted", {}, `${data.model} · ${(u.input || 0) + (u.cache_read || 0) + (u.cache_write || 0)} in / ${u.output || 0} out tokens · ${data.cost_usd === null ? "unpriced" : usd(Number(data.cost_usd))}`));
        } else if (event === "error") {
          answer.append(h("p.error", { role: "alert" }, data.message));
        }
      }
    } catch (e) {
      const disabled = e instanceof ApiError && e.status === 503 && e.problem?.type?.endsWith("tracy-disabled");
      answer.append(
        h(
          "p.error",
          { role: "alert", class: disabled ? "tracy-disabled" : "" },
          disabled ? `Tracy is not enabled on this server. ${e.message}` : e.name === "AbortError" ? "Stopped." : e.message,
        ),
      );
      if (e instanceof ApiError && e.status === 409) this.sessions.delete(this.key());
    } finally {
      answer.removeAttribute("aria-busy");
      this.busy = null;
      this.send.disabled = false;
    }
  }
}
