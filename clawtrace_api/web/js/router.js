// The page's state lives in the URL's hash (#/traces/<id>?view=timeline&span=<id>): every view can be
// shared as a link and the back button undoes a click. The server serves one page at `/`.

export function current() {
  const raw = location.hash.replace(/^#/, "") || "/agents";
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

export function href(parts, params = {}) {
  const path = "#/" + parts.map(encodeURIComponent).join("/");
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "" && v !== false) q.set(k, v);
  }
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

/** Change the URL's query without reloading the page's data twice: `replace` for filter edits. */
export function setParams(updates, { replace = false } = {}) {
  const { parts, params } = current();
  const next = Object.fromEntries(params.entries());
  for (const [k, v] of Object.entries(updates)) {
    if (v === undefined || v === null || v === "" || v === false) delete next[k];
    else next[k] = v;
  }
  const target = href(parts, next);
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}
