// The UI's entry: sign in (a pasted read key becomes an HttpOnly cookie), then one page per URL hash.
import { ApiError, get, onSignedOut, request } from "./api.js";
import { h, render } from "./dom.js";
import { current } from "./router.js";
import { renderAgents } from "./pages/agents.js";
import { renderCosts } from "./pages/costs.js";
import { renderSession, renderSessions } from "./pages/sessions.js";
import { renderTrace } from "./pages/trace.js";
import { renderTraces } from "./pages/traces.js";
import { Tracy } from "./tracy/panel.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const signOutButton = document.getElementById("sign-out");
const tracyToggle = document.getElementById("tracy-toggle");
const tracy = new Tracy(document.getElementById("tracy"), tracyToggle);
let session = null;
let rendering = 0;
// The page on screen, when it can follow a change of its own URL (a trace's view or step) without reloading.
let active = null;

const ROUTES = [
  [["agents"], (r) => renderAgents(main, r)],
  [["agents", "*"], (r) => renderTraces(main, r, r.parts[1])],
  [["traces", "*"], (r) => renderTrace(main, r, r.parts[1])],
  [["sessions"], (r) => renderSessions(main, r)],
  [["sessions", "*"], (r) => renderSession(main, r, r.parts[1])],
  [["costs"], (r) => renderCosts(main, r)],
];

function match(parts) {
  for (const [pattern, fn] of ROUTES) {
    if (pattern.length === parts.length && pattern.every((p, i) => p === "*" || p === parts[i])) return fn;
  }
  return null;
}

function showSignIn(message) {
  session = null;
  nav.hidden = true;
  signOutButton.hidden = true;
  tracyToggle.hidden = true;
  tracy.hide();
  who.textContent = "";
  const input = h("input", {
    id: "key",
    type: "password",
    name: "key",
    autocomplete: "off",
    required: true,
    placeholder: "ct_live_…",
    "aria-describedby": "key-help",
  });
  const error = h("p.error", { role: "alert", id: "sign-in-error" }, message || "");
  const form = h(
    "form.card.sign-in",
    {
      "aria-labelledby": "sign-in-title",
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        try {
          await request("/v1/ui/session", { method: "POST", body: { key: input.value } });
          input.value = "";
          await start();
        } catch (e) {
          error.textContent = e instanceof ApiError ? e.message : String(e);
        }
      },
    },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("label", { for: "key" }, "API key with the read scope"),
    input,
    h(
      "p.muted",
      { id: "key-help" },
      "`make demo` prints one; `clawtrace keys create --tenant <id>` makes another. The key is exchanged for a session cookie and not kept by this page.",
    ),
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  render(main, form);
  input.focus();
}

async function route() {
  if (!session) return;
  const r = current();
  const fn = match(r.parts);
  for (const a of nav.querySelectorAll("a")) {
    a.toggleAttribute("aria-current", a.dataset.nav === (r.parts[0] === "traces" ? "agents" : r.parts[0]));
  }
  if (active && active.update && active.path === r.parts.join("/")) {
    const ticket = ++rendering;
    try {
      if (await active.update(r)) return;
    } catch (e) {
      if (ticket !== rendering) return;
    }
  }
  active = null;
  if (!fn) {
    render(main, h("section.card", {}, h("h1", {}, "Not found"), h("p", {}, "No page at this address. "), h("a", { href: "#/agents" }, "Agents")));
    tracy.setScope({ label: "all agents" });
    return;
  }
  const ticket = ++rendering;
  // A filter's change redraws the page: keep the keyboard where it was (the same-named control).
  const focused = main.contains(document.activeElement) ? document.activeElement.getAttribute("name") : null;
  try {
    const scope = await fn(r);
    if (focused) main.querySelector(`[name="${CSS.escape(focused)}"]`)?.focus();
    if (ticket === rendering) {
      tracy.setScope(scope || { label: "all agents" });
      active = { path: r.parts.join("/"), update: scope?.update };
    }
  } catch (e) {
    if (ticket !== rendering) return;
    if (e instanceof ApiError && e.status === 401) return;
    const notFound = e instanceof ApiError && e.status === 404;
    render(
      main,
      h(
        "section.card.problem",
        { role: "alert" },
        h("h1", {}, notFound ? "Not found" : "Something went wrong"),
        h("p", {}, notFound ? `${e.message}: it does not exist, or it is not your tenant's.` : e.message),
        h("a", { href: "#/agents" }, "Back to agents"),
      ),
    );
    tracy.setScope({ label: "all agents" });
  }
}

async function start() {
  try {
    session = await get("/v1/ui/session");
  } catch (e) {
    showSignIn(e instanceof ApiError && e.status !== 401 ? e.message : "");
    return;
  }
  nav.hidden = false;
  signOutButton.hidden = false;
  tracyToggle.hidden = false;
  who.textContent = `tenant ${session.tenant_id.slice(0, 8)}`;
  who.title = session.tenant_id;
  await route();
  main.focus({ preventScroll: true });
}

signOutButton.addEventListener("click", async () => {
  await request("/v1/ui/session", { method: "DELETE" }).catch(() => {});
  history.replaceState(null, "", "#/agents");
  showSignIn("Signed out.");
});
onSignedOut(() => showSignIn("Your session ended: sign in again."));
window.addEventListener("hashchange", () => route());
start();
