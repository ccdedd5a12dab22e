// model.js: what the console knows, all of it derived from the control
// API: the journal (streamed), the outbound records (polled with since)
// and the messages this tab sent. Nothing here is kept anywhere else; a
// reload rebuilds it from the simulator.

// The contract's frame types, for filters.
export const FRAME_TYPES = ['hello', 'descriptor', 'inbound', 'inbound_ack', 'outbound', 'outbound_result',
  'interrupt', 'interrupt_inbound', 'going_idle', 'going_idle_ack', 'passthrough_forward'];

export const OPS = ['send', 'edit', 'typing', 'follow_up', 'get_chat_info', 'draft', 'task_card', 'task_card_stop',
  'delete', 'send_media', 'prompt', 'react', 'thread_create', 'thread_rename'];

const INDEX_MAX = 20000; // entries kept in each index below

// remember appends value to map[key], forgetting the oldest key past max.
function remember(map, key, value) {
  if (key == null || key === '') return;
  const list = map.get(key);
  if (list) { list.push(value); return; }
  map.set(key, [value]);
  if (map.size > INDEX_MAX) map.delete(map.keys().next().value);
}

function setBounded(map, key, value) {
  map.delete(key);
  map.set(key, value);
  if (map.size > INDEX_MAX) map.delete(map.keys().next().value);
}

// looseString reads a string member out of JSON text that may have been cut
// (the journal keeps the first 2 KiB of a frame).
function looseString(text, key) {
  const m = text.match(new RegExp('"' + key + '"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)("?)'));
  if (!m) return undefined;
  try { return JSON.parse('"' + m[1].replace(/\\u?[0-9a-fA-F]{0,3}$/, '') + '"'); } catch { return m[1]; }
}

// frameOf parses a journal entry's frame, or, when the journal cut it,
// reads the members the console needs out of the text.
export function frameOf(e) {
  if (e._frame !== undefined) return e._frame;
  let f = null;
  if (e.frame) {
    try {
      f = JSON.parse(e.frame);
    } catch {
      const t = e.frame;
      const s = (k) => looseString(t, k);
      f = { type: s('type'), requestId: s('requestId'), bufferId: s('bufferId'), _cut: true };
      if (f.type === 'inbound') {
        f.event = { message_id: s('message_id'), text: s('text'), message_type: s('message_type'),
          source: { platform: s('platform'), chat_id: s('chat_id'), chat_type: s('chat_type'), user_id: s('user_id'),
            user_name: s('user_name'), thread_id: s('thread_id') } };
      } else if (f.type === 'outbound') {
        f.platform = undefined; // cut before the routing tags
        f.action = { op: s('op'), chat_id: s('chat_id'), content: s('content') };
      }
    }
  }
  Object.defineProperty(e, '_frame', { value: f, enumerable: false });
  return f;
}

// Journal keeps the newest entries (as many as relaysim's own journal) and
// the indexes the chat view needs.
export class Journal {
  constructor(max = 10000) {
    this.max = max;
    this.reset();
  }

  reset() {
    this.entries = [];
    this.last = 0;
    this.reqFrames = new Map(); // requestId -> [seq]: the outbound and its result
    this.results = new Map(); // requestId -> result object as sent
    this.msgFrames = new Map(); // gateway|platform|message id -> [seq]
    this.inbound = []; // {seq, gatewayId, event, bufferId, cut}, oldest first
    this.buffered = new Map(); // bufferId -> seq of the buffer entry
    this.acked = new Map(); // bufferId -> seq of the ack
    this.drains = new Map(); // instance -> {seq, total, acked, done, detail}
  }

  add(e) {
    this.entries.push(e);
    this.last = Math.max(this.last, e.seq);
    if (this.entries.length > this.max + this.max / 10) this.entries = this.entries.slice(-this.max);
    this.index(e);
  }

  index(e) {
    if (e.kind === 'frame_in' || e.kind === 'frame_out') {
      const f = frameOf(e);
      const type = e.frameType || f?.type;
      if (type === 'outbound' && f?.requestId) remember(this.reqFrames, f.requestId, e.seq);
      if (type === 'outbound_result') {
        const rid = e.requestId || f?.requestId;
        remember(this.reqFrames, rid, e.seq);
        if (rid && f?.result) setBounded(this.results, rid, f.result);
      }
      if (type === 'inbound' && e.kind === 'frame_out' && f?.event) {
        const ev = f.event;
        const id = ev.message_id || ev.source?.message_id;
        remember(this.msgFrames, `${e.gatewayId}|${ev.source?.platform}|${id}`, e.seq);
        this.inbound.push({ seq: e.seq, gatewayId: e.gatewayId, event: ev, bufferId: e.bufferId || f.bufferId, cut: !!f._cut });
        if (this.inbound.length > INDEX_MAX) this.inbound = this.inbound.slice(-this.max);
      }
    }
    if (e.kind === 'buffer' && e.bufferId) setBounded(this.buffered, e.bufferId, e.seq);
    if (e.kind === 'ack' && e.bufferId) {
      setBounded(this.acked, e.bufferId, e.seq);
      const d = this.drains.get(e.instance);
      if (d && !d.done) d.acked++;
    }
    if (e.kind === 'drain' && e.instance) {
      const started = /^drain started: (\d+)/.exec(e.detail || '');
      if (started) this.drains.set(e.instance, { seq: e.seq, total: +started[1], acked: 0, done: false, detail: e.detail });
      else {
        const d = this.drains.get(e.instance) || { seq: e.seq, total: 0, acked: 0 };
        d.done = true;
        d.detail = e.detail;
        this.drains.set(e.instance, d);
      }
    }
  }
}

// sessionKey is contract.SessionKey (contract/sessionkey.go), the key a
// gateway files a conversation under, for the interrupt button. The
// browser tests check it against fixtures/session_keys.json.
export function sessionKey(src, opts = { group_sessions_per_user: true, thread_sessions_per_user: false }) {
  const isDM = src.chat_type === 'dm';
  let thread = src.thread_id || '';
  let slot = src.chat_type || '';
  if (!thread && !isDM && src.prospective_thread_id) {
    thread = src.prospective_thread_id;
    slot = 'thread';
  }
  const isolate = isDM ? !src.chat_id
    : !!opts.group_sessions_per_user && !(thread && !opts.thread_sessions_per_user);
  const participant = src.user_id_alt || src.user_id || '';
  const profile = src.profile || '';
  const ns = profile === '' || profile === 'default' ? 'agent:main' : profile === 'main' ? 'agent:main~' : 'agent:' + profile;
  const parts = [ns, src.platform, slot];
  if (src.platform === 'slack') parts.push(src.scope_id);
  parts.push(src.chat_id);
  if (isDM) {
    if (isolate) parts.push(participant);
    parts.push(thread);
  } else {
    parts.push(thread);
    if (isolate) parts.push(participant);
  }
  return parts.filter((p) => p).join(':');
}

// textLength counts text in a descriptor's len_unit.
export function textLength(text, unit) {
  return unit === 'utf16' ? text.length : [...text].length;
}

// splitPart reads the adapter's "(i/N)" part indicator at a text's end.
export function splitPart(text) {
  const m = /\s\((\d+)\/(\d+)\)\s*$/.exec(text || '');
  return m ? { i: +m[1], n: +m[2] } : null;
}

function resultStatus(res) {
  if (!res) return 'pending';
  if (res.success) return 'ok';
  return res.code === 'egress_declined' ? 'declined' : 'failed';
}

// inConversation reports whether an outbound action belongs to conv.
function inConversation(rec, conv, key) {
  if (rec.gatewayId !== conv.gatewayId) return false;
  if ((rec.resolvedPlatform || rec.platform) !== conv.platform) return false;
  const a = rec.action || {};
  if (a.chat_id !== undefined) return a.chat_id === conv.chatId;
  return rec.op === 'follow_up' && a.session_key === key;
}

// buildConversation turns what the simulator saw into what the platform
// would show in one chat: messages in order, each with the frames behind
// it, edits applied in place, drafts merged, reactions on their target.
export function buildConversation(app, conv) {
  const j = app.journal;
  const key = sessionKey({ platform: conv.platform, chat_id: conv.chatId, chat_type: conv.chatType,
    user_id: conv.userId, thread_id: conv.threadId });
  const items = [];
  const byId = new Map();
  const add = (it) => { items.push(it); if (it.id) byId.set(it.id, it); return it; };

  // What the user side sent: delivered events from the journal, and this
  // tab's own sends (full text, and the ones buffered or filtered).
  for (const rec of j.inbound) {
    const ev = rec.event;
    const src = ev.source || {};
    if (rec.gatewayId !== conv.gatewayId || src.platform !== conv.platform || src.chat_id !== conv.chatId) continue;
    const id = ev.message_id || src.message_id || 'seq-' + rec.seq;
    let it = byId.get(id);
    if (it && it.kind === 'user') {
      if (rec.bufferId) it.replayed = true;
      else if (ev.text !== it.text) { it.text = ev.text; it.edits++; }
      it.frames.push(rec.seq);
      continue;
    }
    it = add({ kind: 'user', order: rec.seq, id, text: ev.text ?? '', edits: 0, frames: [rec.seq], cut: rec.cut,
      user: src.user_name || src.user_display_name || src.user_id, thread: src.thread_id,
      media: ev.media || (ev.media_urls || []).map((url) => ({ url })), press: ev.prompt_response,
      bufferId: rec.bufferId, replayed: !!rec.bufferId, reactions: new Map() });
  }
  for (const [id, s] of app.sent) {
    if (s.gatewayId !== conv.gatewayId || s.platform !== conv.platform || s.chatId !== conv.chatId) continue;
    let it = byId.get(id);
    if (!it) {
      it = add({ kind: 'user', order: s.order, id, text: s.text, edits: s.edits, frames: [], user: s.user,
        thread: s.thread, media: s.media || [], reactions: new Map() });
    }
    if (it.cut || s.edits >= it.edits) it.text = s.text;
    it.cut = false;
    it.delivery = s.delivery;
    it.reason = s.reason;
    it.bufferId ||= s.bufferId;
  }
  for (const it of items) {
    if (!it.bufferId) continue;
    const b = j.buffered.get(it.bufferId);
    if (b != null) { it.order = Math.min(it.order, b); it.frames.unshift(b); }
    const a = j.acked.get(it.bufferId);
    if (a != null) { it.acked = true; it.frames.push(a); }
  }
  items.sort((x, y) => x.order - y.order);

  // What the gateway sent, in the order its frames arrived.
  const recs = app.outbound.filter((r) => inConversation(r, conv, key)).map((r) => {
    const seqs = j.reqFrames.get(r.requestId) || [];
    return { rec: r, order: seqs.length ? seqs[0] : r._order, frames: seqs };
  }).sort((x, y) => x.order - y.order);

  const drafts = new Map();
  let typing = null;
  const note = (order, text, level, frames) => add({ kind: 'note', order, text, level, frames: [...frames] });
  for (const { rec, order, frames } of recs) {
    const a = rec.action || {};
    const res = j.results.get(rec.requestId) || (rec.answered ? rec.result : null);
    const status = resultStatus(res);
    const err = res && !res.success ? `${res.code || 'error'}: ${res.error || ''}` : '';
    const target = a.message_id ? byId.get(a.message_id) : null;
    const touch = (it) => { it.frames.push(...frames); it.reqs.push(rec.requestId); };
    switch (rec.op) {
      case 'send': case 'follow_up': case 'send_media': case 'prompt': {
        const it = add({ kind: 'bot', op: rec.op, order, id: status === 'ok' ? res.message_id : null, text: a.content ?? '',
          part: splitPart(a.content), status, error: err, edits: 0, frames: [...frames], reqs: [rec.requestId],
          reactions: new Map(), thread: a.metadata?.thread_id || a.metadata?.thread_ts });
        if (rec.op === 'send_media') it.media = [{ kind: a.media_kind, url: a.source_url, filename: a.filename }];
        if (rec.op === 'prompt') it.prompt = { id: a.prompt_id, kind: a.prompt_kind, options: a.options || [] };
        break;
      }
      case 'draft': {
        let it = drafts.get(a.draft_id);
        if (!it) {
          it = add({ kind: 'bot', op: 'draft', order, id: null, text: '', status, error: err, edits: 0, frames: [], reqs: [],
            reactions: new Map(), draft: { id: a.draft_id, updates: 0, final: false } });
          drafts.set(a.draft_id, it);
        }
        touch(it);
        it.text = a.content ?? it.text;
        it.part = splitPart(it.text);
        it.draft.updates++;
        if (status === 'ok' && res.message_id && !it.id) { it.id = res.message_id; byId.set(it.id, it); }
        if (a.final) it.draft.final = status === 'ok';
        if (status !== 'ok') { it.status = status; it.error = err; }
        break;
      }
      case 'edit':
        if (target && status === 'ok') { target.text = a.content ?? ''; target.part = splitPart(target.text); target.edits++; touch(target); }
        else if (target) { target.editError = `edit ${status}: ${err}`; touch(target); }
        else note(order, `edit of ${a.message_id} (${status === 'ok' ? 'a message not shown here' : err})`, status === 'ok' ? 'info' : 'error', frames);
        break;
      case 'delete':
        if (target && status === 'ok') { target.deleted = true; touch(target); }
        else note(order, `delete of ${a.message_id}: ${status === 'ok' ? 'done' : err}`, status === 'ok' ? 'info' : 'error', frames);
        break;
      case 'react':
        if (target && status === 'ok') {
          if (a.remove) target.reactions.delete(a.emoji);
          else target.reactions.set(a.emoji, true);
          target.frames.push(...frames);
          (target.reqs ||= []).push(rec.requestId);
        } else if (status !== 'ok' && status !== 'pending') note(order, `reaction ${a.emoji} on ${a.message_id}: ${err}`, 'error', frames);
        break;
      case 'typing':
        if (status === 'ok' || status === 'pending') typing = { order, status: a.content, seenAt: rec._seenAt };
        else note(order, `typing: ${err}`, 'error', frames);
        break;
      case 'thread_create':
        note(order, status === 'ok' ? `🧵 thread “${a.thread_name}” created (${res.thread_id || '?'})` : `thread_create: ${err}`,
          status === 'ok' ? 'info' : 'error', frames);
        break;
      case 'thread_rename':
        note(order, status === 'ok' ? (res.skipped ? `thread rename to “${a.thread_name}” skipped` : `🧵 thread renamed “${a.thread_name}”`)
          : `thread_rename: ${err}`, status === 'ok' ? 'info' : 'error', frames);
        break;
      case 'task_card': case 'task_card_stop': {
        let it = items.find((x) => x.card === a.card_id);
        if (!it) it = add({ kind: 'bot', op: 'task_card', order, card: a.card_id, text: '', status, error: err, edits: 0,
          frames: [], reqs: [], reactions: new Map(), chunks: [] });
        touch(it);
        if (rec.op === 'task_card') it.chunks = a.chunks || [];
        else it.stopped = true;
        break;
      }
      default:
        if (status === 'failed' || status === 'declined') note(order, `${rec.op}: ${err}`, 'error', frames);
    }
  }

  // A prompt shows which button was pressed.
  for (const rec of j.inbound) {
    const pr = rec.event.prompt_response;
    if (!pr || rec.gatewayId !== conv.gatewayId) continue;
    const it = byId.get(pr.prompt_message_id) || items.find((x) => x.prompt && x.prompt.id === pr.prompt_id);
    if (it?.prompt) it.prompt.chosen = pr.option_id;
  }

  items.sort((x, y) => x.order - y.order);
  const lastBot = items.filter((x) => x.kind === 'bot').reduce((m, x) => Math.max(m, x.order), -1);
  if (typing && typing.order < lastBot) typing = null;
  return { items, typing, sessionKey: key };
}
