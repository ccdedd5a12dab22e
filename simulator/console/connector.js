// connector.js: the connector panel: gateways and their sockets, the
// buffer and drain of an instance, policies and wakes, and the levers
// (secrets, faults, scripted results, the manual clock, reset), each one a
// control API call.

import * as api from './api.js';
import { $, $$, h, fill, morph, options, clockTime, shorten } from './dom.js';
import { FRAME_TYPES, OPS } from './model.js';

const INSTANCES_READ = 8; // instances whose buffer state one refresh reads

let app;

export function initConnector(theApp) {
  app = theApp;
  options($('#fault-type'), FRAME_TYPES);
  options($('#script-op'), OPS);
  $('#fault-form').addEventListener('submit', (ev) => { ev.preventDefault(); addFault(); });
  $('#refuse').addEventListener('change', () => act(`refuse connections: ${$('#refuse').checked}`,
    () => api.post('faults', { refuseConnections: $('#refuse').checked })));
  $('#pongs-stop').addEventListener('click', () => act('pongs stopped', () => api.post('faults', { stopPongs: true, gatewayId: gateway() })));
  $('#pongs-resume').addEventListener('click', () => act('pongs answered', () => api.post('faults', { stopPongs: false, gatewayId: gateway() })));
  $('#faults-clear').addEventListener('click', () => act('faults cleared', () => api.del('faults')));
  for (const b of $$('[data-script]')) b.addEventListener('click', () => addScript(b.dataset.script));
  $('#scripts-clear').addEventListener('click', () => act('scripts cleared', () => api.del('scripts')));
  for (const b of $$('[data-advance]')) {
    b.addEventListener('click', () => act(`clock +${b.dataset.advance}`, () => api.post('clock', { advance: b.dataset.advance })));
  }
  $('#reset').addEventListener('click', () => {
    if (confirm('Reset relaysim? Every socket closes; buffers, records, scripts, faults and the journal are dropped.')) {
      act('reset', () => api.post('reset'));
    }
  });
  $('#refresh').addEventListener('click', () => app.refreshState());
}

// gateway is the gateway the chat panel talks to; levers act on it.
function gateway() { return $('#gw').value; }

// act runs one lever and reports how it went.
async function act(what, fn) {
  try {
    const res = await fn();
    app.status(what);
    app.refreshState();
    return res;
  } catch (e) {
    app.status(`${what}: ${e.message}`, true);
    return null;
  }
}

function addFault() {
  const body = { gatewayId: gateway(), direction: $('#fault-dir').value, times: Number($('#fault-times').value) || 0 };
  if ($('#fault-type').value) body.frameTypes = [$('#fault-type').value];
  if ($('#fault-act').value === 'drop') body.drop = true;
  else body.delay = $('#fault-delay').value;
  act('fault added', () => api.post('faults', body));
}

function addScript(kind) {
  const body = { gatewayId: gateway(), times: 1 };
  if ($('#script-op').value) body.op = $('#script-op').value;
  if (kind === 'fail') body.fail = { error: 'failed on purpose (console)', code: 'internal' };
  else body[kind] = true;
  act(`next ${body.op || 'action'}: ${kind}`, () => api.post('scripts', body));
}

function showSecret(title, g) {
  fill($('#secret-title'), title);
  fill($('#secret-body'), g.env || `GATEWAY_RELAY_ID=${g.gatewayId}\nGATEWAY_RELAY_SECRET=${g.secret}\n`);
  $('#secret-dialog').showModal();
}

function gatewayRow(g) {
  const socks = app.sessions.filter((s) => s.gatewayId === g.gatewayId);
  const inst = app.instances.get(g.instanceId);
  const state = [];
  if (g.revoked) state.push(h('span.tag.bad', {}, 'revoked'));
  else if (socks.length) state.push(h('span.tag.ok', {}, `connected ×${socks.length}`));
  else state.push(h('span.tag', {}, 'no socket'));
  if (inst?.flipped) state.push(h('span.tag.warn', { title: 'going_idle acknowledged: everything is buffered' }, 'buffered-only'));
  if (inst?.draining) state.push(h('span.tag.warn', {}, 'draining'));
  if (inst?.entries?.length) state.push(h('span.tag', { title: 'buffered entries' }, `buffer ${inst.entries.length}`));
  const rotate = () => act('secret rotated', async () => showSecret(`New secret of ${g.gatewayId}`, await api.post(`gateways/${enc(g.gatewayId)}/rotate`)));
  const retire = () => act('previous secrets retired', () => api.post(`gateways/${enc(g.gatewayId)}/retire`));
  const revoke = () => {
    if (confirm(`Revoke ${g.gatewayId}? Its sockets close 4401 and its secrets stop working.`)) {
      act(`${g.gatewayId} revoked`, () => api.post(`gateways/${enc(g.gatewayId)}/revoke`));
    }
  };
  return h('tr', { dataset: { gateway: g.gatewayId } },
    h('td', {}, h('b', {}, g.gatewayId), h('div.muted', {}, `${g.tenant} · ${g.instanceId}`)),
    h('td', {}, g.platforms.join(', ')),
    h('td', {}, state, g.previousSecrets ? h('div.muted', {}, `${g.previousSecrets} older secret(s) accepted`) : null),
    h('td.actions', {}, g.revoked ? null : [
      h('button', { type: 'button', onclick: rotate, dataset: { act: 'rotate' }, title: 'POST /gateways/{id}/rotate: a new secret; the old one stays valid until retired' }, 'rotate'),
      g.previousSecrets ? h('button', { type: 'button', onclick: retire, dataset: { act: 'retire' }, title: 'POST /gateways/{id}/retire' }, 'retire old') : null,
      h('button.danger', { type: 'button', onclick: revoke, dataset: { act: 'revoke' }, title: 'POST /gateways/{id}/revoke: sockets close 4401' }, 'revoke')]));
}

const enc = encodeURIComponent;

// table returns the tbody of the table in box, making it once, so rows
// can be morphed in place.
function table(box) {
  let body = box.querySelector('tbody');
  if (!body) {
    body = h('tbody');
    fill(box, h('table', {}, body));
  }
  return body;
}

function renderGateways() {
  morph(table($('#gateways')), app.gateways.map((g) => {
    const row = gatewayRow(g);
    row.dataset.key = g.gatewayId;
    return row;
  }));
}

function renderInstance() {
  const g = app.gateways.find((x) => x.gatewayId === gateway());
  fill($('#instance-name'), g ? g.instanceId : '');
  if (!g) { fill($('#instance')); return; }
  const inst = app.instances.get(g.instanceId);
  if (!inst) { fill($('#instance'), h('p.muted', {}, 'not read yet')); return; }
  const drain = app.journal.drains.get(g.instanceId);
  const parts = [];
  parts.push(h('div.kv', {},
    h('span', {}, 'flip ', h('b', {}, inst.flipped ? 'buffered-only' : 'live')),
    h('span', {}, 'buffer ', h('b', { dataset: { depth: inst.entries.length } }, String(inst.entries.length))),
    h('span', {}, 'acks ', h('b', {}, String(inst.acks.count)), inst.acks.noop ? ` (+${inst.acks.noop} no-op)` : '')));
  if (drain) {
    const pct = drain.total ? Math.min(100, Math.round((100 * drain.acked) / drain.total)) : 100;
    parts.push(h('div.drain', {}, h('span', {}, drain.done ? `last drain: ${drain.detail}` : `draining: ${drain.acked} of ${drain.total} acked`),
      h('progress', { max: 100, value: pct })));
  }
  if (inst.entries.length) {
    parts.push(h('ol.buffer', {}, inst.entries.slice(0, 20).map((e) => h('li', {},
      h('code', {}, e.bufferId), ` ${e.platform} ${e.frameType}`,
      e.payload?.text != null ? ` “${shorten(e.payload.text, 40)}”` : '',
      e.deliveries ? h('span.muted', {}, ` · replayed ×${e.deliveries}`) : null))),
    inst.entries.length > 20 ? h('p.muted', {}, `and ${inst.entries.length - 20} more`) : null);
  }
  const pols = Object.values(app.policies.get(g.instanceId) || {});
  parts.push(h('div.kv', {}, h('span', {}, 'policies '), pols.length
    ? pols.map((p) => h('span.tag', { title: JSON.stringify(p) }, `${p.platform}: ${p.requireAddress ? 'addressed only' : 'all'}${p.freeResponseScopes?.length ? ' +' + p.freeResponseScopes.length + ' free scopes' : ''}`))
    : h('span.muted', {}, 'none declared (every event passes)')));
  const wakes = app.wakes.filter((w) => w.instance === g.instanceId).slice(-5);
  parts.push(h('div.kv', {}, h('span', {}, 'wakes '), wakes.length
    ? wakes.map((w) => h('span.tag' + (w.error ? '.bad' : ''), { title: w.url }, `${clockTime(w.at)} ${w.suppressed ? 'suppressed' : w.error ? w.error : w.status}`))
    : h('span.muted', {}, g.wakeUrl ? 'none sent' : 'no wake URL')));
  fill($('#instance'), parts);
}

function renderSessions() {
  if (!app.sessions.length) { fill($('#sessions'), h('p.muted', {}, 'no open socket')); return; }
  const close = (gw, code) => act(`${gw}: closed ${code}`, () => api.post(`sessions/${enc(gw)}/close`, { code, reason: 'closed from the console' }));
  morph(table($('#sessions')), app.sessions.map((s) => h('tr', { dataset: { session: s.id, key: s.id } },
    h('td', {}, h('b', {}, `#${s.id}`), ` ${s.gatewayId}`, h('div.muted', {}, s.remote)),
    h('td', {}, s.platforms.join(', ') || h('span.muted', {}, 'no hello yet'),
      h('div.muted', {}, `${s.handshaked ? 'handshaked' : 'handshaking'}${s.draining ? ' · draining' : ''}`)),
    h('td', {}, `in ${s.framesIn} · out ${s.framesOut}`, h('div.muted', {}, `since ${clockTime(s.openedAt)}`)),
    h('td.actions', {},
      h('button', { type: 'button', onclick: () => close(s.gatewayId, 1000), title: 'close the gateway\'s sockets 1000' }, 'close'),
      h('button', { type: 'button', onclick: () => close(s.gatewayId, 1011), title: 'close the gateway\'s sockets 1011' }, '1011')))));
}

function renderLevers() {
  $('#refuse').checked = !!app.faults.refusingConnections;
  morph($('#fault-list'), app.faults.faults.map((f) => h('div.tag.warn', {},
    `${f.id}: ${f.drop ? 'drop' : 'delay ' + f.delay} ${f.direction || 'both'} ${(f.frameTypes || []).join(',') || 'any'}` +
    `${f.gatewayId ? ' of ' + f.gatewayId : ''} · ${f.hits}/${f.times || '∞'}`)));
  morph($('#script-list'), app.scripts.map((s) => h('div.tag', {},
    `${s.id}: ${s.op || 'any op'}${s.gatewayId ? ' of ' + s.gatewayId : ''} → ${s.fail ? 'fail' : s.egressDeclined ? 'egress declined' : s.neverAnswer ? 'never answered' : 'scripted'} · used ${s.used}/${s.times || '∞'}`)));
  const c = app.clock;
  if (c) {
    fill($('#clock-now'), `${c.time.replace('T', ' ').slice(0, 19)} UTC`);
    fill($('#clock'), `🕒 ${c.time.slice(11, 19)}${c.manual ? ' manual' : ''}`);
    $('#clock-manual').hidden = !c.manual;
    if (!c.manual) $('#clock-now').append(h('span.muted', {}, ' · wall clock (start relaysim with --manual-clock to move it from here)'));
  }
}

// read loads the state the panel shows.
export async function read() {
  const [gws, sess, faults, scripts, clock, wakes] = await Promise.all([
    api.get('gateways'), api.get('sessions'), api.get('faults'), api.get('scripts'), api.get('clock'), api.get('wakes')]);
  app.gateways = gws.gateways;
  app.sessions = sess.sessions;
  app.faults = faults;
  app.scripts = scripts.scripts;
  app.clock = clock;
  app.wakes = wakes.wakes;
  // The chosen gateway's instance first, then the others, up to a few.
  const chosen = app.gateways.find((g) => g.gatewayId === gateway());
  const insts = [...new Set([chosen?.instanceId, ...app.gateways.filter((g) => !g.revoked).map((g) => g.instanceId)])]
    .filter(Boolean).slice(0, INSTANCES_READ);
  const states = await Promise.all(insts.map((i) => Promise.all([api.get(`buffers/${enc(i)}`), api.get(`policies/${enc(i)}`)])));
  app.instances = new Map(states.map(([b]) => [b.instance, b]));
  app.policies = new Map(states.map(([, p]) => [p.instance, p.policies]));
}

export function render() {
  renderGateways();
  renderInstance();
  renderSessions();
  renderLevers();
}
