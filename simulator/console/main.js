// main.js: boots the console and keeps its three panels fed: the journal
// stream (GET /journal/stream), the outbound records (GET /outbound with
// since) and the connector's state, read again whenever the journal says
// something changed.

import * as api from './api.js';
import { $, fill } from './dom.js';
import { Journal } from './model.js';
import * as chat from './chat.js';
import * as wire from './wire.js';
import * as connector from './connector.js';

const MAX_OUTBOUND = 10000; // outbound records kept, as many as relaysim keeps per gateway
const MAX_SENT = 2000; // messages this tab sent, kept for their full text and delivery
const STATE_KINDS = new Set(['open', 'close', 'auth', 'flip', 'drain', 'buffer', 'ack', 'noop_ack', 'wake', 'fault', 'control', 'filtered']);

const app = {
  journal: new Journal(),
  outbound: [],
  outSeq: 0,
  sent: new Map(),
  descriptors: {},
  gateways: [],
  sessions: [],
  faults: { faults: [], refusingConnections: false },
  scripts: [],
  clock: null,
  wakes: [],
  instances: new Map(),
  policies: new Map(),
  status,
  focusFrames: (seqs, label) => wire.showFrames(seqs, label),
  refreshState,
  refreshOutboundSoon: () => setTimeout(refreshOutbound, 0),
  boundSent,
  onConversationChange,
};

let statusTimer = null;
function status(msg, isError = false) {
  const el = $('#status');
  fill(el, msg);
  el.classList.toggle('bad', isError);
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => fill(el), isError ? 15000 : 5000);
}

function boundSent() {
  while (app.sent.size > MAX_SENT) app.sent.delete(app.sent.keys().next().value);
}

// Work triggered by journal entries is coalesced: one read per burst.
function coalesce(fn, wait) {
  let timer = null;
  let running = false;
  let again = false;
  const run = async () => {
    timer = null;
    if (running) { again = true; return; }
    running = true;
    try { await fn(); } catch (e) { status(e.message, true); }
    running = false;
    if (again) { again = false; schedule(); }
  };
  const schedule = () => { timer ??= setTimeout(run, wait); };
  return schedule;
}

async function readOutbound() {
  const page = await api.get('outbound?since=' + app.outSeq);
  const now = Date.now();
  for (const rec of page.outbound) {
    // Where a record goes when the journal no longer has its frame.
    Object.defineProperties(rec, { _order: { value: app.journal.last + 0.5 }, _seenAt: { value: now } });
    app.outbound.push(rec);
    app.outSeq = Math.max(app.outSeq, rec.seq);
  }
  if (app.outbound.length > MAX_OUTBOUND) app.outbound = app.outbound.slice(-MAX_OUTBOUND);
  if (page.outbound.length) renderChat();
}
const refreshOutbound = coalesce(readOutbound, 0);

async function readState() {
  await connector.read();
  chat.setGateways();
  wire.setGateways(app.gateways.map((g) => g.gatewayId));
  connector.render();
  renderChat();
}
const refreshStateSoon = coalesce(readState, 150);
function refreshState() { refreshStateSoon(); }

const renderChat = coalesce(async () => chat.render(), 16);

function onConversationChange() {
  chat.setGateways();
  connector.render();
  refreshStateSoon();
}

// forget drops what the console derived from a journal that is gone.
function forget() {
  app.journal.reset();
  app.outbound = [];
  app.sent.clear();
  wire.rebuild();
}

let pending = [];
const flush = coalesce(async () => {
  const batch = pending;
  pending = [];
  let outbound = false;
  let state = false;
  for (const e of batch) {
    if (e.kind === 'control' && e.detail === 'reset') { forget(); app.journal.last = e.seq; }
    app.journal.add(e);
    if (e.frameType === 'outbound' || e.frameType === 'outbound_result') outbound = true;
    if (STATE_KINDS.has(e.kind)) state = true;
  }
  wire.append(batch);
  if (outbound) refreshOutbound();
  if (state) refreshStateSoon();
  renderChat();
}, 16);

function setConn(text, cls) {
  const el = $('#conn');
  fill(el, text);
  el.className = 'pill ' + cls;
}

// follow keeps the journal stream open for as long as the page lives.
async function follow() {
  let wait = 500;
  for (;;) {
    try {
      setConn('● live', 'ok');
      await api.streamJournal(app.journal.last, {
        entry: (e) => { pending.push(e); flush(); },
        gap: (g) => status(`the journal dropped entries ${g.from}–${g.to} before the console read them`, true),
        restart: async () => {
          status('relaysim restarted: reading everything again');
          forget();
          app.outSeq = 0;
          await readOutbound();
          refreshStateSoon();
        },
        end: () => {},
      });
      wait = 500;
    } catch (e) {
      setConn('○ reconnecting', 'bad');
      status(`journal stream: ${e.message}`, true);
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 8000);
    }
  }
}

function tokenDialog(message) {
  return new Promise((resolve) => {
    const dlg = $('#token-dialog');
    fill($('#token-error'), api.token() ? message : '');
    $('#token-input').value = '';
    const done = (ev) => {
      ev.preventDefault();
      const t = $('#token-input').value.trim();
      if (!t) return;
      api.setToken(t);
      $('#token-btn').hidden = false;
      $('#token-form').removeEventListener('submit', done);
      dlg.close();
      resolve();
    };
    $('#token-form').addEventListener('submit', done);
    dlg.addEventListener('cancel', (ev) => ev.preventDefault(), { once: true });
    if (!dlg.open) dlg.showModal();
    $('#token-input').focus();
  });
}

async function boot() {
  api.onTokenNeeded(tokenDialog);
  $('#token-btn').hidden = !api.token();
  $('#token-btn').addEventListener('click', () => { api.setToken(''); location.reload(); });
  chat.initChat(app);
  wire.initWire(app);
  connector.initConnector(app);

  const [health, descs] = await Promise.all([api.get('health'), api.get('descriptors')]);
  app.descriptors = descs.descriptors;
  document.title = `relaysim console · ${location.host}`;
  await readState();
  // Telegram shows the most (drafts, reactions, prompts): start there.
  if (health.platforms.includes('telegram') && [...$('#platform').options].some((o) => o.value === 'telegram')) {
    $('#platform').value = 'telegram';
  }
  await readOutbound();
  renderChat();
  follow();
  document.body.dataset.ready = 'true';
}

boot().catch((e) => status(`console failed to start: ${e.message}`, true));
