// chat.js: the chat panel. The user side goes in through the control API
// (POST /inbound, /press, /interrupt, /media), exactly like a test's
// injections; the gateway side is drawn from the outbound records the way
// the chosen platform's descriptor says the platform would show them.

import * as api from './api.js';
import { $, $$, h, fill, morph, options, shorten } from './dom.js';
import { buildConversation, textLength } from './model.js';

const TYPING_SHOWN_MS = 6000; // how long a platform shows "typing…"
const MAX_ATTACHMENT = 760 * 1024; // what fits the control API's 1 MiB JSON body as base64

let app;
let attachment = null; // {name, type, size, dataB64}
let editing = null; // the message id being edited
let typingTimer = null;
let sendSeq = 0;

export function initChat(theApp) {
  app = theApp;
  for (const id of ['gw', 'platform', 'chat-type', 'chat-id', 'thread-id', 'user-id', 'user-name']) {
    $('#' + id).addEventListener('change', () => { app.onConversationChange(); render(); });
  }
  $('#chat-id').addEventListener('input', () => render());
  $('#composer').addEventListener('submit', (ev) => { ev.preventDefault(); send(); });
  $('#text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send(); }
  });
  $('#text').addEventListener('input', counter);
  $('#file').addEventListener('change', pickFile);
  $('#interrupt').addEventListener('click', interrupt);
  for (const b of $$('[data-try]')) b.addEventListener('click', () => tryCommand(b.dataset.try));
}

// conversation is the chat the controls name.
export function conversation() {
  return {
    gatewayId: $('#gw').value,
    platform: $('#platform').value,
    chatType: $('#chat-type').value,
    chatId: $('#chat-id').value.trim(),
    threadId: $('#thread-id').value.trim(),
    userId: $('#user-id').value.trim(),
    userName: $('#user-name').value.trim(),
  };
}

// setGateways offers the gateways that are not revoked, and each one's
// platforms.
export function setGateways() {
  const live = app.gateways.filter((g) => !g.revoked);
  options($('#gw'), live.map((g) => g.gatewayId));
  const g = live.find((x) => x.gatewayId === $('#gw').value);
  options($('#platform'), g ? g.platforms : []);
}

function descriptor() { return app.descriptors[$('#platform').value]; }

function counter() {
  const d = descriptor();
  const text = $('#text').value;
  if (!d || !text) { fill($('#counter')); return; }
  const n = textLength(text, d.len_unit);
  const echo = textLength('echo: ' + text, d.len_unit);
  const parts = Math.ceil(echo / d.max_message_length);
  fill($('#counter'), `${n} ${d.len_unit === 'utf16' ? 'UTF-16 units' : 'characters'}`,
    parts > 1 ? h('span.warn', {}, ` · its echo is over ${d.max_message_length}: about ${parts} parts`) : '');
}

function renderDescriptor() {
  const d = descriptor();
  const badge = $('#platform-badge');
  if (!d) { fill(badge); fill($('#descriptor')); return; }
  document.body.dataset.platform = d.platform;
  fill(badge, `${d.emoji || ''} ${d.label}`);
  const flag = (on, label) => h('span.chip' + (on ? '.on' : '.off'), { title: on ? 'advertised' : 'not advertised' }, label);
  const ops = d.supported_ops?.length ? d.supported_ops : ['send', 'edit', 'typing', 'follow_up'];
  fill($('#descriptor'),
    h('span.chip.on', {}, `max ${d.max_message_length} ${d.len_unit}`),
    h('span.chip.on', {}, d.markdown_dialect),
    flag(d.supports_edit, 'edit'), flag(d.supports_draft_streaming, 'draft streaming'), flag(d.supports_threads, 'threads'),
    h('details.ops', {}, h('summary', {}, `${ops.length} ops`), ops.join(', ')));
}

// render draws the chosen conversation.
export function render() {
  renderDescriptor();
  const conv = conversation();
  const box = $('#messages');
  if (!conv.gatewayId || !conv.platform) {
    fill(box, h('p.empty', {}, 'No gateway enrolled. Enroll one through POST /_relaysim/gateways, or start relaysim with --gateway-id.'));
    return;
  }
  const { items, typing } = buildConversation(app, conv);
  const stick = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const used = new Set();
  morph(box, items.length ? items.map((it) => {
    let key = it.kind === 'user' ? 'u:' + it.id : it.kind === 'bot' ? 'b:' + (it.reqs[0] || it.id) : `n:${it.order}`;
    while (used.has(key)) key += '+';
    used.add(key);
    const el = bubble(it);
    el.dataset.key = key;
    return el;
  }) : [h('p.empty', { dataset: { key: 'empty' } }, connectedHint(conv))]);
  if (stick) box.scrollTop = box.scrollHeight;
  renderTyping(typing);
  counter();
}

function connectedHint(conv) {
  const socks = app.sessions.filter((s) => s.gatewayId === conv.gatewayId && s.platforms.includes(conv.platform));
  if (!socks.length) {
    return `${conv.gatewayId} has no socket for ${conv.platform} yet: what you send now is buffered and replayed when it connects. ` +
      'Start a gateway with the env block relaysim printed (go run ./examples/echogateway).';
  }
  return `Say something: ${conv.gatewayId} is connected on ${conv.platform}.`;
}

function renderTyping(typing) {
  const el = $('#typing');
  clearTimeout(typingTimer);
  const left = typing ? TYPING_SHOWN_MS - (Date.now() - (typing.seenAt || 0)) : 0;
  if (left <= 0) { el.hidden = true; return; }
  el.hidden = false;
  fill(el, h('span.dots', {}, '•••'), ` ${conv().gatewayId} is typing${typing.status ? ': ' + typing.status : '…'}`);
  typingTimer = setTimeout(render, left);
}

const conv = conversation;

function statusLine(it) {
  if (it.kind === 'user') {
    if (it.delivery === 'filtered') return h('span.st.bad', { title: it.reason }, `⊘ filtered: ${it.reason}`);
    if (it.acked) return h('span.st.ok', { title: 'replayed from the buffer and acked' }, '✓✓ replayed, acked');
    if (it.replayed) return h('span.st.warn', { title: 'replayed from the buffer, not acked yet' }, '▶ replayed');
    if (it.delivery === 'buffered') return h('span.st.warn', { title: it.bufferId }, '⏸ buffered');
    if (it.frames.length) return h('span.st.ok', {}, '✓ delivered');
    return h('span.st', {}, '…');
  }
  switch (it.status) {
    case 'pending': return h('span.st.warn', {}, '… no result yet');
    case 'failed': return h('span.st.bad', {}, '✗ failed');
    case 'declined': return h('span.st.bad', {}, '⛔ egress declined');
    default: return null;
  }
}

function framesButton(it) {
  const n = new Set(it.frames).size;
  if (!n) return null;
  return h('button.frames', { type: 'button', title: 'show the frames behind this message in the wire panel',
    onclick: () => app.focusFrames(it.frames, it.id ? `message ${it.id}` : 'this message') }, `⇄ ${n} frame${n > 1 ? 's' : ''}`);
}

function bubble(it) {
  if (it.kind === 'note') {
    return h('div.note' + (it.level === 'error' ? '.bad' : ''), { dataset: { frames: it.frames.join(',') } },
      it.text, ' ', framesButton(it));
  }
  const cls = ['msg', it.kind, 'st-' + (it.status || 'ok')];
  if (it.deleted) cls.push('deleted');
  if (it.draft && !it.draft.final) cls.push('streaming');
  const meta = h('div.meta', {},
    h('span.author', {}, it.kind === 'user' ? it.user || 'user' : conv().gatewayId),
    it.op && it.op !== 'send' && it.op !== 'draft' ? h('span.op', {}, it.op) : null,
    it.part ? h('span.part', { title: 'split by the gateway to fit max_message_length' }, `part ${it.part.i}/${it.part.n}`) : null,
    it.draft ? h('span.op', {}, it.draft.final ? `draft · ${it.draft.updates} updates, sealed` : `draft · ${it.draft.updates} updates…`) : null,
    it.edits ? h('span.edited', {}, it.edits > 1 ? `edited ×${it.edits}` : 'edited') : null,
    it.thread ? h('span.op', {}, `🧵 ${it.thread}`) : null,
    it.id ? h('span.id', {}, it.id) : null,
    statusLine(it),
    framesButton(it),
    it.kind === 'user' && !it.press && it.id && !it.id.startsWith('seq-')
      ? h('button.edit', { type: 'button', title: 'send an edit of this message', onclick: () => startEdit(it) }, '✎') : null);
  const body = [];
  if (it.press) body.push(h('div.press', {}, '⏎ pressed ', h('span.btnlike', {}, it.press.label || it.press.option_id)));
  else if (it.deleted) body.push(h('div.text', {}, '🗑 message deleted'));
  else if (it.text || !it.media?.length) body.push(h('div.text', {}, it.text, it.cut ? h('span.muted', {}, ' … (cut in the journal)') : null));
  for (const m of it.media || []) {
    body.push(h('div.file', { title: m.url || '' }, '📄 ', m.filename || m.kind || 'file', m.kind ? h('span.muted', {}, ` · ${m.kind}`) : null,
      m.url ? h('span.muted', {}, ` · ${shorten(m.url.replace(/^https?:\/\/[^/]+/, ''), 40)}`) : null));
  }
  if (it.chunks) body.push(h('pre.card', {}, JSON.stringify(it.chunks, null, 1)), it.stopped ? h('div.muted', {}, 'stopped') : null);
  if (it.prompt) {
    body.push(h('div.buttons', {}, it.prompt.options.map((o) => h('button' + (o.id === it.prompt.chosen ? '.chosen' : ''), {
      type: 'button', dataset: { option: o.id }, disabled: !it.id, title: `POST /_relaysim/press ${o.id}`,
      onclick: () => press(it, o),
    }, o.label || o.id))));
  }
  if (it.error) body.push(h('div.err', {}, it.error));
  if (it.editError) body.push(h('div.err', {}, it.editError));
  const reactions = [...(it.reactions?.keys() || [])];
  return h('div.' + cls.join('.'), { dataset: { id: it.id || '', part: it.part ? `${it.part.i}/${it.part.n}` : '',
    op: it.op || '', status: it.status || '', updates: it.draft ? it.draft.updates : '', final: it.draft ? String(it.draft.final) : '',
    frames: it.frames.join(',') } },
  meta, body, reactions.length ? h('div.reactions', {}, reactions.map((e) => h('span.reaction', {}, e))) : null);
}

// newMessageId names a message the way a platform would, once per send.
function newMessageId() {
  sendSeq++;
  return `u-${Date.now().toString(36)}-${sendSeq}`;
}

function mediaType(mime) {
  if (mime.startsWith('image/')) return 'photo';
  if (mime.startsWith('video/')) return 'video';
  if (mime.startsWith('audio/')) return 'audio';
  return 'document';
}

async function send() {
  const c = conversation();
  const text = $('#text').value;
  if (!text.trim() && !attachment) return;
  if (!c.gatewayId || !c.platform || !c.chatId || !c.userId) {
    app.status('pick a gateway and platform, and give a chat id and a user id', true);
    return;
  }
  const id = editing || newMessageId();
  // message_id and source first: the journal keeps a frame's first 2 KiB,
  // and the console finds the conversation of a long message there.
  const source = { platform: c.platform, chat_id: c.chatId, chat_type: c.chatType, user_id: c.userId };
  if (c.userName) source.user_name = c.userName;
  if (c.threadId) source.thread_id = c.threadId;
  const event = { message_id: id, source, message_type: 'text', text };
  let media = [];
  let prev;
  try {
    if (attachment && !editing) {
      const up = await api.post('media', { gatewayId: c.gatewayId, filename: attachment.name,
        contentType: attachment.type || 'application/octet-stream', dataB64: attachment.dataB64 });
      media = [{ url: up.url, mime: attachment.type || 'application/octet-stream', filename: attachment.name, size: up.size }];
      event.message_type = mediaType(attachment.type || '');
      event.media_urls = [up.url];
      event.media = media;
    }
    prev = app.sent.get(id);
    app.sent.set(id, { gatewayId: c.gatewayId, platform: c.platform, chatId: c.chatId, text, media: prev?.media || media,
      user: c.userName || c.userId, thread: c.threadId, order: prev?.order ?? app.journal.last + 0.5, edits: prev ? prev.edits + 1 : 0,
      delivery: 'sending' });
    const d = await api.post('inbound', { gatewayId: c.gatewayId, event, addressed: $('#addressed').checked });
    Object.assign(app.sent.get(id), { delivery: d.delivery, bufferId: d.bufferId, reason: d.reason });
    $('#text').value = '';
    clearAttachment();
    stopEdit();
    app.status(d.delivery === 'live' ? `${id} delivered live on socket ${d.sessionId}`
      : d.delivery === 'buffered' ? `${id} buffered as ${d.bufferId}: no live socket for ${c.platform}`
        : `${id} ${d.delivery}${d.reason ? ': ' + d.reason : ''}`);
  } catch (e) {
    // Refused: the conversation shows what it showed before.
    if (prev) app.sent.set(id, prev);
    else app.sent.delete(id);
    app.status(e.message, true);
  }
  app.boundSent();
  render();
  app.refreshOutboundSoon();
}

async function press(it, option) {
  const c = conversation();
  try {
    const d = await api.post('press', { gatewayId: c.gatewayId, messageId: it.id, optionId: option.id,
      userId: c.userId, chatType: c.chatType });
    app.status(`pressed ${option.label || option.id}: ${d.delivery}`);
  } catch (e) {
    app.status(e.message, true);
  }
}

async function interrupt() {
  const c = conversation();
  const { sessionKey } = buildConversation(app, c);
  try {
    const d = await api.post('interrupt', { gatewayId: c.gatewayId, sessionKey, chatId: c.chatId });
    app.status(`interrupt for ${sessionKey}: ${d.delivery}${d.reason ? ' (' + d.reason + ')' : ''}`);
  } catch (e) {
    app.status(e.message, true);
  }
}

function startEdit(it) {
  editing = it.id;
  $('#text').value = it.text;
  const box = $('#editing');
  box.hidden = false;
  fill(box, `✎ editing ${it.id}: sent again with the same message_id, as a platform delivers an edit `,
    '(a conforming gateway drops it as a replay, IN-010) ',
    h('button', { type: 'button', onclick: stopEdit }, 'cancel'));
  $('#text').focus();
}

function stopEdit() {
  editing = null;
  $('#editing').hidden = true;
}

function pickFile(ev) {
  const f = ev.target.files[0];
  ev.target.value = '';
  if (!f) return;
  if (f.size > MAX_ATTACHMENT) {
    app.status(`${f.name} is ${f.size} bytes; the control API's JSON body fits about ${MAX_ATTACHMENT} bytes of file`, true);
    return;
  }
  const reader = new FileReader();
  reader.onload = () => {
    const url = String(reader.result);
    attachment = { name: f.name, type: f.type, size: f.size, dataB64: url.slice(url.indexOf(',') + 1) };
    const box = $('#attachment');
    box.hidden = false;
    fill(box, `📎 ${f.name} (${f.size} bytes) `, h('button', { type: 'button', onclick: clearAttachment }, 'remove'));
  };
  reader.readAsDataURL(f);
}

function clearAttachment() {
  attachment = null;
  $('#attachment').hidden = true;
}

function tryCommand(cmd) {
  if (cmd === 'long') {
    const d = descriptor();
    const max = d ? d.max_message_length : 4096;
    const words = 'The quick brown fox jumps over the lazy dog. ';
    cmd = words.repeat(Math.ceil((max * 1.2) / words.length)).trim();
  }
  $('#text').value = cmd;
  counter();
  send();
}
