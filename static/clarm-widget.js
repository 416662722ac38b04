/*! Clarm chat widget, loaded by clarm.js only when the workspace switched it on; see docs/agents.md */
(function (w, d) {
  'use strict';
  const C = w.ClarmTrack && w.ClarmTrack._w;
  if (!C || w.__clarmChat) return;
  w.__clarmChat = 1;
  const cfg = C.c, Q = '?key=' + encodeURIComponent(C.KEY), LS = 'clarm_chat', SS = 'clarm_chat_open';
  const OPEN_MS = 800, CLOSED_MS = 15000;
  const sget = (s, k) => { try { return w[s].getItem(k); } catch (e) { return null; } };
  const sset = (s, k, v) => { try { w[s].setItem(k, v); } catch (e) {} };
  const sdel = (s, k) => { try { w[s].removeItem(k); } catch (e) {} };
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2));
  let token = sget('localStorage', LS), last = 0, open = false, unread = 0, timer = 0, busy = 0, ask = null, loaded = 0;
  const seen = {};

  // readable text on the workspace's colour
  const hex = /^#[0-9a-f]{6}$/i.test(cfg.color) ? cfg.color : '#1a4fd6';
  const lum = [1, 3, 5].map((i) => parseInt(hex.substr(i, 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4)));
  const ink = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2] > 0.179 ? '#111' : '#fff';
  const FONT = 'font:15px/1.4 system-ui,sans-serif;';
  function el(tag, attrs, css, text) {
    const e = d.createElement(tag);
    Object.keys(attrs || {}).forEach((k) => e.setAttribute(k, attrs[k]));
    e.setAttribute('data-clarm-ui', '');
    if (css) e.style.cssText = css;
    if (text) e.textContent = text;
    return e;
  }
  const hide = (e, h) => { e.hidden = h; e.style.display = h ? 'none' : ''; };
  const BTN = 'font:inherit;border:0;border-radius:6px;padding:8px 14px;cursor:pointer;background:' + hex + ';color:' + ink + ';outline-offset:2px';
  const FIELD = 'font:inherit;flex:1;min-width:0;padding:8px;border:1px solid #767676;border-radius:6px;color:#111;background:#fff';
  const SR = 'position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap';

  const launcher = el('button', { type: 'button', id: 'clarm-chat-open', 'aria-controls': 'clarm-chat', 'aria-expanded': 'false', 'aria-haspopup': 'dialog' },
    'position:fixed;right:16px;bottom:16px;z-index:2147483645;' + FONT + 'border:0;border-radius:24px;padding:12px 18px;box-shadow:0 4px 16px #0004;cursor:pointer;background:' + hex + ';color:' + ink, 'Chat');
  const panel = el('div', { id: 'clarm-chat', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'clarm-chat-title' },
    'position:fixed;right:16px;bottom:16px;z-index:2147483646;width:min(360px,calc(100vw - 32px));height:min(520px,calc(100vh - 32px));' +
    'display:flex;flex-direction:column;background:#fff;color:#111;border-radius:12px;box-shadow:0 8px 30px #0005;overflow:hidden;' + FONT);
  const head = el('div', {}, 'display:flex;align-items:center;gap:8px;padding:12px 14px;background:' + hex + ';color:' + ink);
  const title = el('h2', { id: 'clarm-chat-title' }, 'margin:0;flex:1;font-size:16px;font-weight:600', cfg.name || 'Chat');
  const close = el('button', { type: 'button', 'aria-label': 'Close chat' }, BTN + ';font-size:20px;line-height:1;padding:2px 10px;border:1px solid ' + ink, '×');
  head.append(title, close);
  const log = el('div', { role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages', tabindex: '0' }, 'margin:0;padding:12px;flex:1;overflow-y:auto;display:flex;flex-direction:column;gap:8px');
  const askForm = el('form', { 'aria-label': 'Your email' }, 'display:flex;flex-wrap:wrap;gap:6px;padding:10px 12px;border-top:1px solid #ddd;background:#f6f6f6');
  const askLabel = el('label', { for: 'clarm-chat-email' }, 'flex-basis:100%;font-size:14px', 'Leave your email so we can answer you even after you leave:');
  const askInput = el('input', { id: 'clarm-chat-email', type: 'email', name: 'email', autocomplete: 'email', required: '' }, FIELD);
  askForm.append(askLabel, askInput, el('button', { type: 'submit' }, BTN, 'Save'));
  const form = el('form', { 'aria-label': 'Send a message' }, 'display:flex;gap:6px;padding:10px 12px;border-top:1px solid #ddd');
  const input = el('input', { id: 'clarm-chat-input', name: 'message', autocomplete: 'off', maxlength: '2000' }, FIELD);
  const label = el('label', { for: 'clarm-chat-input' }, SR, 'Your message');
  form.append(label, input, el('button', { type: 'submit' }, BTN, 'Send'));
  panel.append(head, log, askForm, form);
  hide(panel, true);
  hide(askForm, true);
  d.body.append(launcher, panel);

  function bubble(text, mine, who) {
    const li = el('div', {}, 'max-width:85%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word;' +
      (mine ? 'align-self:flex-end;background:' + hex + ';color:' + ink : 'align-self:flex-start;background:#eee;color:#111'));
    li.append(el('span', {}, SR, mine ? 'You: ' : (who || cfg.name) + ': '), d.createTextNode(text));
    log.append(li);
    log.scrollTop = log.scrollHeight;
    return li;
  }
  bubble(cfg.greeting || 'Hi!', false);
  function badge() {
    launcher.textContent = unread ? 'Chat (' + unread + ')' : 'Chat';
    launcher.setAttribute('aria-label', 'Chat with ' + (cfg.name || 'us') + (unread ? ', ' + unread + ' new' : ''));
  }
  badge();
  function show(m) {
    if (seen[m.id]) return;
    seen[m.id] = 1;
    last = Math.max(last, m.id);
    if (m.direction === 'in') return bubble(m.body, true);
    bubble(m.body, false, m.from === 'agent' ? cfg.name + ' (assistant)' : cfg.name);
    if (!open && loaded) { unread++; badge(); }
  }
  function setAsk(a) {
    ask = a;
    hide(askForm, !(ask === 'email' && !sget('sessionStorage', 'clarm_chat_id')));
  }
  // the visitor withdrew consent: the chat goes with the rest
  function gone() {
    if (C.storeOK()) return false;
    clearTimeout(timer);
    launcher.remove();
    panel.remove();
    sdel('localStorage', LS);
    return true;
  }
  function post(path, data) {
    return fetch(C.HOST + path + Q, { method: 'POST', body: JSON.stringify(data), headers: { 'Content-Type': 'text/plain' }, credentials: 'omit' })
      .then((r) => r.json().then((j) => [r.status, j]));
  }
  function schedule() {
    clearTimeout(timer);
    if (token) timer = setTimeout(poll, open ? OPEN_MS : CLOSED_MS);
  }
  function poll() {
    if (gone() || !token) return;
    if (d.hidden || busy) return schedule();
    busy = 1;
    post('/api/widget/poll', { token, after: last }).then(([st, j]) => {
      busy = 0;
      if (st === 401) { token = null; sdel('localStorage', LS); return; }
      if (st === 200) { j.messages.forEach(show); setAsk(j.ask); loaded = 1; }
      schedule();
    }, () => { busy = 0; schedule(); });
  }
  function send(text) {
    if (gone()) return;
    const ids = C.ids();
    if (!ids) return;
    const li = bubble(text, true);
    li.style.opacity = '0.6';
    const body = { visitor_id: ids[0], session_id: ids[1], message_id: uuid(), body: text };
    if (token) body.token = token;
    const attempt = (n) => post('/api/widget/messages', body).then(([st, j]) => {
      if (st === 401 && body.token) { delete body.token; token = null; return attempt(n); }
      if (st !== 201) throw j.error || 'error';
      li.style.opacity = '';
      seen[j.message.id] = 1;
      if (j.token) { token = j.token; sset('localStorage', LS, token); }
      poll();
    }).catch((e) => {
      if (n < 2 && typeof e !== 'string') return setTimeout(() => attempt(n + 1), 1000 * (n + 1));
      li.append(el('span', {}, 'display:block;font-size:13px', ' Not sent: ' + e));
    });
    attempt(0);
  }
  const focusable = () => [].filter.call(panel.querySelectorAll('button,input,[tabindex="0"]'), (e) => !e.closest('[hidden]'));
  function toggle(to, quiet) {
    if (to === open) return;
    open = to;
    hide(panel, !open);
    hide(launcher, open);
    launcher.setAttribute('aria-expanded', '' + open);
    sset('sessionStorage', SS, open ? '1' : '');
    if (open) { unread = 0; badge(); input.focus(); poll(); } else { launcher.focus(); schedule(); }
    if (!quiet) C.track(open ? 'widget_opened' : 'widget_closed', { widget: 'chat' });
  }
  launcher.addEventListener('click', () => toggle(true));
  close.addEventListener('click', () => toggle(false));
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); return toggle(false); }
    if (e.key !== 'Tab') return;
    const f = focusable(), first = f[0], end = f[f.length - 1];
    if (e.shiftKey && d.activeElement === first) { e.preventDefault(); end.focus(); }
    else if (!e.shiftKey && d.activeElement === end) { e.preventDefault(); first.focus(); }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    send(text.slice(0, 2000));
  });
  askForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = askInput.value.trim();
    if (!v || !C.storeOK()) return;
    C.track('identify', { email: v }, 1);
    C.flush();
    sset('sessionStorage', 'clarm_chat_id', '1');
    setAsk(ask);
    bubble('Thanks, we will answer at ' + v + ' too.', false);
    input.focus();
  });
  if (sget('sessionStorage', SS) === '1') toggle(true, true);
  poll();
})(window, document);
