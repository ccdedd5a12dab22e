// api.js: the console's only way to the simulator, the control API under
// /_relaysim/, called like any other client: JSON bodies with
// Content-Type: application/json, same-origin, and the control token (when
// relaysim has one) as a bearer.

const TOKEN_KEY = 'relaysim.controlToken';

// root is the control API's prefix, where the page itself is served.
export const root = new URL('.', location.href).pathname;

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// askToken is called on a 401 with the server's message; it resolves once
// the user gave a token (setToken), and the request is tried again.
let askToken = null;
let asking = null;
export function onTokenNeeded(fn) { askToken = fn; }

async function needToken(message) {
  if (!askToken) throw new APIError(401, message);
  asking ??= askToken(message).finally(() => { asking = null; });
  await asking;
}

function headers(hasBody) {
  const h = { Accept: 'application/json' };
  const t = token();
  if (t) h.Authorization = 'Bearer ' + t;
  if (hasBody) h['Content-Type'] = 'application/json';
  return h;
}

// call sends one request and answers the decoded JSON, or throws an
// APIError with the server's {"error"} text.
export async function call(method, path, body) {
  for (;;) {
    const res = await fetch(root + path, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    if (res.status === 401) {
      await needToken(data?.error || 'control token missing or wrong');
      continue;
    }
    if (!res.ok) throw new APIError(res.status, data?.error || `${res.status} ${res.statusText}`);
    return data;
  }
}

export const get = (path) => call('GET', path);
export const post = (path, body = {}) => call('POST', path, body);
export const del = (path) => call('DELETE', path);

// streamJournal follows GET /journal/stream from the entry after since and
// calls on[event](data, id) for each server-sent event ("entry", "gap",
// "restart", "end"). It returns when the server ends the stream and throws
// when the connection fails. fetch, not EventSource, so the token can go
// in a header.
export async function streamJournal(since, on, signal) {
  for (;;) {
    const res = await fetch(root + 'journal/stream?since=' + since, {
      headers: { ...headers(false), Accept: 'text/event-stream' },
      cache: 'no-store',
      credentials: 'omit',
      signal,
    });
    if (res.status === 401) {
      await needToken('control token missing or wrong');
      continue;
    }
    if (!res.ok) {
      let msg = `${res.status} ${res.statusText}`;
      try { msg = (await res.json()).error || msg; } catch { /* not JSON */ }
      throw new APIError(res.status, msg);
    }
    await readEvents(res.body, on);
    return;
  }
}

// readEvents parses a text/event-stream body (the subset relaysim writes:
// event, data, id and comment lines).
async function readEvents(body, on) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let ev = { event: 'message', data: [], id: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let start = 0;
    for (let nl; (nl = buf.indexOf('\n', start)) >= 0; start = nl + 1) {
      const line = buf.slice(start, nl).replace(/\r$/, '');
      if (line === '') {
        if (ev.data.length) {
          const handler = on[ev.event];
          if (handler) handler(JSON.parse(ev.data.join('\n')), ev.id);
        }
        ev = { event: 'message', data: [], id: null };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (field === 'data') ev.data.push(val);
      else if (field === 'event') ev.event = val;
      else if (field === 'id') ev.id = val;
    }
    buf = buf.slice(start);
  }
}
