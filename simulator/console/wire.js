// wire.js: the wire panel, the journal as it streams in: every frame in
// both directions, and the socket events around them, filterable and
// expandable, with close codes and refused tokens picked out.

import { $, h, fill, options, clockTime, shorten } from './dom.js';
import { FRAME_TYPES, frameOf } from './model.js';

const MAX_ROWS = 1500; // rows kept in the page; the journal holds more
// Connection events shown with the frames by default.
const WIRE_KINDS = new Set(['frame_in', 'frame_out', 'open', 'close', 'auth', 'fault', 'flip', 'drain', 'buffer', 'ack',
  'noop_ack', 'filtered', 'wake', 'ignored', 'keepalive']);

let app;
let focus = null; // {seqs: Set, label}
const open = new Set(); // seqs whose JSON is shown

export function initWire(theApp) {
  app = theApp;
  options($('#f-type'), FRAME_TYPES);
  for (const id of ['f-gw', 'f-dir', 'f-type', 'f-kinds']) $('#' + id).addEventListener('change', rebuild);
  $('#f-follow').addEventListener('change', () => { if ($('#f-follow').checked) scrollDown(); });
}

export function setGateways(ids) { options($('#f-gw'), ids); }

function matches(e) {
  if (focus) return focus.seqs.has(e.seq);
  const kinds = $('#f-kinds').value;
  const isFrame = e.kind === 'frame_in' || e.kind === 'frame_out';
  if (kinds === 'frames' && !isFrame) return false;
  if (kinds === 'wire' && !WIRE_KINDS.has(e.kind)) return false;
  const gw = $('#f-gw').value;
  if (gw && e.gatewayId !== gw) return false;
  const dir = $('#f-dir').value;
  if (dir && isFrame && (dir === 'in') !== (e.kind === 'frame_in')) return false;
  if (dir && !isFrame) return false;
  const type = $('#f-type').value;
  if (type && e.frameType !== type) return false;
  return true;
}

// summary says in a few words what an entry is.
function summary(e) {
  const f = frameOf(e);
  if (e.kind === 'frame_in' || e.kind === 'frame_out') {
    if (!f) return e.detail || '';
    const a = f.action || {};
    switch (f.type) {
      case 'hello': return `platform ${f.platform}`;
      case 'descriptor': return `${f.descriptor?.label || ''} max ${f.descriptor?.max_message_length} ${f.descriptor?.len_unit}`;
      case 'inbound': return `${f.bufferId ? 'replay ' + f.bufferId + ' ' : ''}${f.event?.source?.chat_id ?? ''}: “${shorten(f.event?.text ?? '', 60)}”`;
      case 'outbound': return `${a.op} ${a.chat_id ?? ''}${a.content != null ? ' “' + shorten(a.content, 60) + '”' : ''}${a.emoji ? ' ' + a.emoji : ''}`;
      case 'outbound_result': {
        const r = f.result || {};
        return r.success ? `ok${r.message_id ? ' ' + r.message_id : ''}` : `✗ ${r.code || ''} ${shorten(r.error || '', 60)}`;
      }
      case 'inbound_ack': return f.bufferId;
      case 'interrupt': case 'interrupt_inbound': return f.session_key;
      default: return e.detail || '';
    }
  }
  const bits = [];
  if (e.code) bits.push(`${e.code}${e.reason ? ' ' + e.reason : ''}`);
  if (e.bufferId) bits.push(e.bufferId);
  if (e.method) bits.push(`${e.method} ${e.path} → ${e.status}`);
  if (e.detail) bits.push(e.detail);
  return bits.join(' · ');
}

function classes(e) {
  const c = ['row', 'k-' + e.kind];
  if (e.kind === 'frame_in') c.push('in');
  if (e.kind === 'frame_out') c.push('out');
  if (e.kind === 'auth') c.push('alarm');
  if (e.kind === 'close') c.push(e.code === 1000 || e.code === 1001 ? 'calm' : 'alarm');
  if (e.kind === 'fault' || e.kind === 'noop_ack') c.push('warn');
  const f = frameOf(e);
  if (f?.type === 'outbound_result' && f.result && !f.result.success) c.push('alarm');
  return c.join('.');
}

function row(e) {
  const isFrame = e.kind === 'frame_in' || e.kind === 'frame_out';
  const dir = e.kind === 'frame_in' ? '⟵ in' : e.kind === 'frame_out' ? 'out ⟶' : '';
  const el = h('div.' + classes(e), { dataset: { seq: e.seq, kind: e.kind, type: e.frameType || '' },
    title: isFrame ? (e.kind === 'frame_in' ? 'gateway → relaysim' : 'relaysim → gateway') : e.kind },
  h('span.seq', {}, '#' + e.seq),
  h('span.t', {}, clockTime(e.time)),
  h('span.dir', {}, dir),
  h('span.gw', {}, e.gatewayId ? `${e.gatewayId}${e.sessionId ? '/' + e.sessionId : ''}` : ''),
  h('span.type', {}, isFrame ? e.frameType || '?' : e.kind),
  h('span.sum', {}, summary(e)));
  el.addEventListener('click', () => toggle(e, el));
  return el;
}

function detail(e) {
  const f = frameOf(e);
  let text;
  if (f && !f._cut) text = JSON.stringify(f, null, 2);
  else if (e.frame) text = e.frame + `\n\n(the journal keeps the first ${e.frame.length} of this frame's ${e.size} bytes)`;
  else text = JSON.stringify(e, null, 2);
  return h('pre.json', { dataset: { for: e.seq } }, text);
}

function toggle(e, el) {
  const next = el.nextElementSibling;
  if (next?.dataset.for === String(e.seq)) { next.remove(); open.delete(e.seq); return; }
  open.add(e.seq);
  el.after(detail(e));
}

function scrollDown() {
  const box = $('#rows');
  box.scrollTop = box.scrollHeight;
}

// append adds the rows of new entries.
export function append(entries) {
  const box = $('#rows');
  const frag = document.createDocumentFragment();
  for (const e of entries) {
    if (!matches(e)) continue;
    frag.append(row(e));
    if (open.has(e.seq)) frag.append(detail(e));
  }
  box.append(frag);
  while (box.childElementCount > MAX_ROWS) box.firstElementChild.remove();
  count();
  if ($('#f-follow').checked && !focus) scrollDown();
}

// rebuild draws the rows again, after a filter changed.
export function rebuild() {
  fill($('#rows'));
  const all = app.journal.entries;
  const kept = [];
  for (let i = all.length - 1; i >= 0 && kept.length < MAX_ROWS; i--) if (matches(all[i])) kept.push(all[i]);
  append(kept.reverse());
  if (focus) $('#rows').firstElementChild?.scrollIntoView({ block: 'start' });
}

function count() {
  fill($('#wire-count'), `${$('#rows').childElementCount} shown · journal #${app.journal.last}`);
}

// showFrames narrows the panel to the frames behind a chat message.
export function showFrames(seqs, label) {
  focus = { seqs: new Set(seqs), label };
  const box = $('#focus');
  box.hidden = false;
  fill(box, `frames behind ${label}: ${focus.seqs.size} `, h('button', { type: 'button', onclick: clearFocus }, 'show all'));
  open.clear();
  for (const s of focus.seqs) open.add(s);
  rebuild();
}

function clearFocus() {
  focus = null;
  open.clear();
  $('#focus').hidden = true;
  rebuild();
}
