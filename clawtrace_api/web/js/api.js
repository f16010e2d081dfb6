// The API from the page: the session cookie rides along (same origin), the UI header marks our own scripts
// (the API refuses a cookie-authenticated change without it), and every failure is the API's problem+json.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

const listeners = new Set();
/** Called with no argument whenever an answer says the page is no longer signed in. */
export function onSignedOut(fn) {
  listeners.add(fn);
}

function url(path, params) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u.pathname + u.search;
}

export async function request(path, { method = "GET", params, body, signal, accept = "application/json" } = {}) {
  const headers = { accept, "x-clawtrace-ui": "1" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(url(path, params), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  if (!res.ok) {
    let problem = null;
    try {
      problem = await res.json();
    } catch {
      problem = { title: res.statusText };
    }
    if (res.status === 401 && path !== "/v1/ui/session") listeners.forEach((fn) => fn());
    throw new ApiError(res.status, problem);
  }
  return res;
}

export async function get(path, params, opts = {}) {
  const res = await request(path, { ...opts, params });
  return res.json();
}

export async function post(path, body, opts = {}) {
  return request(path, { ...opts, method: "POST", body });
}

/** Server-sent events of a POST (EventSource cannot POST): yields {event, data} as each arrives. */
export async function* streamEvents(path, body, { signal } = {}) {
  const res = await request(path, { method: "POST", body, signal, accept: "text/event-stream" });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      let event = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}
