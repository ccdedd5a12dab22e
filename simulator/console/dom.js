// dom.js: a few helpers to build elements without innerHTML, so text
// from the wire is never read as markup.

// h('div.a.b', {attr: value, onclick: fn, dataset: {...}}, ...children)
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// fill replaces an element's children.
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c != null && c !== false));
  return el;
}

// options fills a select with values (or [value, label] pairs), keeping
// the current choice when it is still offered.
export function options(select, values, keep = true) {
  const cur = select.value;
  const first = [...select.options].filter((o) => o.dataset.fixed === '1');
  fill(select, first, values.map((v) => {
    const [value, label] = Array.isArray(v) ? v : [v, v];
    return h('option', { value }, label);
  }));
  if (keep && [...select.options].some((o) => o.value === cur)) select.value = cur;
}

// time formats a journal or record time as HH:MM:SS.mmm.
export function clockTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toISOString().slice(11, 23);
}

export function shorten(s, n) {
  s = String(s ?? '');
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

// morph makes parent's children the nodes given, keeping each old child
// whose key (data-key, else its position) and markup are unchanged, so a
// re-render never swaps out the button under a click in progress.
export function morph(parent, nodes) {
  const keyOf = (el, i) => el.dataset.key ?? '#' + i;
  const wanted = new Set(nodes.map(keyOf));
  const old = new Map();
  [...parent.children].forEach((el, i) => {
    const k = keyOf(el, i);
    if (wanted.has(k) && !old.has(k)) old.set(k, el);
    else el.remove();
  });
  nodes.forEach((n, i) => {
    const o = old.get(keyOf(n, i));
    const keep = o && o.outerHTML === n.outerHTML ? o : n;
    if (o && o !== keep) o.remove();
    const at = parent.children[i];
    if (at !== keep) parent.insertBefore(keep, at || null);
  });
  while (parent.children.length > nodes.length) parent.lastElementChild.remove();
}
