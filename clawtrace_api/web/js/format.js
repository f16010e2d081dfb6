// How numbers read on every page: money exact to the cent-fraction that matters, tokens compact.

export function usd(value, { unpriced = 0 } = {}) {
  if (value === null || value === undefined) return "unpriced";
  const n = Number(value);
  const text = n === 0 ? "$0" : n < 1 ? `$${n.toFixed(4)}` : n < 100 ? `$${n.toFixed(2)}` : `$${Math.round(n).toLocaleString("en-US")}`;
  return unpriced > 0 ? `${text} + ${unpriced} unpriced` : text;
}

/** The exact figure the price book gave (to a millionth of a cent), for one step's cost. */
export function usdExact(value) {
  if (value === null || value === undefined) return "unpriced";
  const text = Number(value).toFixed(8).replace(/0+$/, "").replace(/\.$/, ".00");
  return `$${/\.\d$/.test(text) ? text + "0" : text}`;
}

export function tokens(n) {
  n = Number(n || 0);
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e4) return `${Math.round(n / 1e3)}k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export function duration(ms) {
  ms = Number(ms || 0);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return m < 60 ? `${m} min ${s} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function pct(x) {
  return `${(Number(x || 0) * 100).toFixed(1)}%`;
}

export function when(ms) {
  if (!ms) return "—";
  return new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function ago(ms) {
  if (!ms) return "never";
  const s = Math.max(0, (Date.now() - Number(ms)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function short(id, n = 8) {
  id = String(id || "");
  return id.length > n + 1 ? `${id.slice(0, n)}…` : id;
}
