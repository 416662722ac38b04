/*! Clarm snippet, see docs/snippet.md */
(function (w, d) {
  'use strict';
  if (w.__clarm) return;
  w.__clarm = 1;
  const nav = navigator, loc = location;
  const script = d.currentScript || d.querySelector('script[data-key][src*="clarm.js"]');
  if (!script) return;
  const attr = (n) => script.getAttribute('data-' + n);
  const KEY = attr('key');
  if (!KEY) return;
  const HOST = (attr('host') || new URL(script.src, loc.href).origin).replace(/\/+$/, '');
  const KEYQ = '?key=' + encodeURIComponent(KEY);
  const TRACK = HOST + '/api/track' + KEYQ;
  const AUTO = attr('auto') !== 'false';
  const MODE = attr('consent') || 'auto';
  const VERSION = 1;
  const TEXT = 'This site uses first-party analytics to understand visits.';
  const LS = 'localStorage', SS = 'sessionStorage', UI = 'data-clarm-ui';
  // GPC / DNT: opted out, nothing sent or stored
  const GPC = nav.globalPrivacyControl === true || nav.doNotTrack === '1' || w.doNotTrack === '1';

  // ---- helpers: nothing may throw into the page
  const safe = (fn) => function () { try { return fn.apply(this, arguments); } catch (e) {} };
  const now = () => performance.now();
  const iso = () => new Date().toISOString();
  const uuid = () => crypto.randomUUID ? crypto.randomUUID()
    : '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, (c) => (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));
  const sget = (s, k) => { try { return w[s].getItem(k); } catch (e) { return null; } };
  const sset = (s, k, v) => { try { w[s].setItem(k, v); } catch (e) {} };
  const sdel = (s, k) => { try { w[s].removeItem(k); } catch (e) {} };
  const cget = (k) => (d.cookie.match(new RegExp('(?:^|; )' + k + '=([^;]*)')) || [])[1] || null;
  const cset = (k, v, days) => {
    d.cookie = k + '=' + v + '; Max-Age=' + days * 86400 + '; Path=/; SameSite=Lax' +
      (loc.protocol === 'https:' ? '; Secure' : '');
  };

  // ---- state: off|wait (asking)|pending|granted|denied|free (no consent needed)
  let state, vid, sid, seen = 0;
  let asks = MODE !== 'not-required';
  const storeOK = () => state === 'granted' || state === 'free';
  function savedChoice() {
    const c = cget('clarm_consent');
    if (c === 'denied' || c === 'optout') return c;
    try {
      const g = JSON.parse(sget(LS, 'clarm_consent'));
      if (g && g.choice === 'granted' && g.version === VERSION) return 'granted';
    } catch (e) {}
    return null;
  }
  function wipe() {
    ['clarm_vid', 'clarm_q', 'clarm_consent'].forEach((k) => sdel(LS, k));
    ['clarm_sid', 'clarm_seen', 'clarm_cm'].forEach((k) => sdel(SS, k));
    cset('clarm_vid', '', 0);
    vid = sid = null;
  }
  // ids only with storage; new session after 30 idle minutes
  function ids() {
    if (!storeOK()) return null;
    if (!vid) {
      vid = sget(LS, 'clarm_vid') || cget('clarm_vid') || uuid();
      sset(LS, 'clarm_vid', vid);
      cset('clarm_vid', vid, 365);
    }
    const t = Date.now();
    sid = sid || sget(SS, 'clarm_sid');
    seen = seen || +sget(SS, 'clarm_seen') || 0;
    if (!sid || t - seen > 18e5) sid = uuid();
    seen = t;
    sset(SS, 'clarm_sid', sid);
    sset(SS, 'clarm_seen', '' + t);
    return [vid, sid];
  }

  // item {e: event, s: stamped, f: fails, p: identity, x: dropped, i: in flight}. Before a choice events
  // wait in memory (Accept: with ids, first touch kept; Decline or page left: without); identity needs consent
  let buf = [], inflight = 0, timer = 0, backoff = 0, retryAt = 0, ref = d.referrer, lastWho = {};
  const held = () => state === 'wait' || state === 'pending';
  function stamp(it, force) {
    if (it.s || (held() && !force)) return;
    it.s = 1;
    if (it.p && !storeOK()) return (it.x = 1);
    const i = ids();
    if (i) { it.e.visitor_id = i[0]; it.e.session_id = i[1]; }
  }
  const copy = (o) => { try { return o && typeof o === 'object' ? JSON.parse(JSON.stringify(o)) : {}; } catch (e) { return {}; } };
  // a second identify of the same person (the form's, then the site's) joins the first
  const low = (v) => ('' + v).trim().toLowerCase(), person = (p) => low(p.email || p.phone || '');
  function track(name, props, pii, url) {
    if (state === 'off' || !name) return null;
    props = copy(props);
    const k = person(props), t = Date.now();
    if (name === 'identify' && k) {
      const twin = buf.find((it) => it.e.event === name && !it.i && person(it.e.properties) === k);
      if (twin) return Object.assign(twin.e.properties, props) && twin.e.message_id;
      if (lastWho.k === k && t - lastWho.t < 1e4 && Object.keys(props).every((n) => low(lastWho.p[n]) === low(props[n]))) return null;
      lastWho = { k, t, p: props };
    }
    const it = {
      e: {
        event: '' + name, properties: props, timestamp: iso(), url: url || loc.href,
        referrer: ref, user_agent: nav.userAgent, message_id: uuid()
      },
      f: 0, p: pii || name === 'identify' || k || props.user_id
    };
    stamp(it);
    buf.push(it);
    if (buf.length > 200) buf.shift();
    persist();
    if (buf.length >= 10) flush(); else if (!timer) timer = setTimeout(safe(flush), 1000);
    return it.e.message_id;
  }
  const live = () => { buf = buf.filter((it) => !it.x); };
  const drop = (items) => { buf = buf.filter((it) => items.indexOf(it) < 0); };
  const body = (items) => JSON.stringify({ batch: items.map((it) => it.e), sent_at: iso() });
  function persist() {
    if (!storeOK()) return;
    const keep = buf.filter((it) => it.s && !it.x).slice(-100);
    if (keep.length) sset(LS, 'clarm_q', JSON.stringify(keep)); else sdel(LS, 'clarm_q');
  }
  function restore() {
    if (!storeOK()) return;
    try {
      const have = buf.map((it) => it.e.message_id);
      const old = JSON.parse(sget(LS, 'clarm_q')) || [];
      buf = old.filter((it) => it && it.e && have.indexOf(it.e.message_id) < 0).concat(buf);
    } catch (e) { sdel(LS, 'clarm_q'); }
  }
  function flush() {
    clearTimeout(timer);
    timer = 0;
    if (held() || state === 'off' || inflight || !buf.length) return;
    if (Date.now() < retryAt) return (timer = setTimeout(safe(flush), retryAt - Date.now()));
    buf.forEach((it) => stamp(it));
    live();
    const items = buf.slice(0, 50), b = body(items);
    if (!items.length) return persist();
    inflight = 1;
    items.forEach((it) => (it.i = 1));
    fetch(TRACK, { method: 'POST', body: b, headers: { 'Content-Type': 'text/plain' }, credentials: 'omit', keepalive: b.length < 3e4 })
      .then((r) => [r.status, +r.headers.get('Retry-After')], () => [0])
      .then(safe(([st, wait]) => {
        inflight = 0;
        if ((st >= 200 && st < 300) || (st >= 400 && st < 500 && st !== 429)) {
          drop(items);
          backoff = retryAt = 0;
        } else {
          items.forEach((it) => { it.f++; it.i = 0; });
          backoff = Math.min(backoff ? backoff * 2 : 1000, 6e4);
          retryAt = Date.now() + Math.max(backoff * (0.8 + Math.random() * 0.4), Math.min(wait || 0, 600) * 1000);
        }
        persist();
        if (buf.length) timer = setTimeout(safe(flush), retryAt ? retryAt - Date.now() : 50);
      }));
  }
  // page hidden/left: sendBeacon; failed events stay stored for the next load
  function beacon() {
    if (state === 'off' || !nav.sendBeacon) return;
    buf.forEach((it) => stamp(it, 1));
    live();
    const all = buf.slice();
    for (let i = 0; i < all.length; i += 20) {
      const items = all.slice(i, i + 20);
      if (!nav.sendBeacon(TRACK, new Blob([body(items)], { type: 'text/plain' }))) break;
      drop(items.filter((it) => !it.f));
    }
    persist();
  }

  // ---- consent choices
  function setConsent(choice, via) {
    if (GPC || state === choice || (state === 'off' && choice !== 'granted')) return;
    const info = { choice, version: VERSION, banner_text: TEXT, via };
    if (choice === 'granted') {
      state = 'granted';
      cset('clarm_consent', '', 0);
      sset(LS, 'clarm_consent', JSON.stringify({ choice, version: VERSION, at: iso() }));
      track('consent_given', info);
    } else {
      const had = storeOK();
      if (had) {
        track('consent_withdrawn', info);
        buf = buf.slice(-1);
      }
      wipe();
      state = 'denied';
      cset('clarm_consent', 'denied', 365);
      if (!had) track('consent_denied', info);
    }
    hideBanner();
    flush();
    widget();
  }
  function optout() {
    if (state === 'off') return;
    track('opted_out', { choice: 'optout', version: VERSION, via: 'api' });
    buf = buf.slice(-1);
    beacon();
    wipe();
    buf = [];
    state = 'off';
    cset('clarm_consent', 'optout', 365);
    hideBanner();
  }

  // ---- banner: Accept and Decline alike, keyboard usable
  let box, link, prefs;
  function make(tag, props, css, label) {
    const e = d.createElement(tag);
    Object.keys(props).forEach((k) => e.setAttribute(k, props[k]));
    e.setAttribute(UI, '');
    e.style.cssText = css;
    e.textContent = label || '';
    return e;
  }
  function button(label, fn, css) {
    const b = make('button', { type: 'button' }, css ||
      'font:inherit;padding:8px 18px;min-width:96px;border:2px solid #222;border-radius:6px;background:#222;color:#fff;outline-offset:3px', label);
    b.addEventListener('click', safe(fn));
    return b;
  }
  function showBanner() {
    if (link) link.style.display = 'none';
    const v = storeOK() && (vid || sget(LS, 'clarm_vid'));
    const href = HOST + '/privacy/preferences' + KEYQ + (v ? '&vid=' + encodeURIComponent(v) : '');
    if (box) return (prefs.href = href, box.style.display = '');
    box = make('div', { id: 'clarm-consent', role: 'dialog', 'aria-label': 'Analytics consent', 'aria-describedby': 'clarm-consent-text' },
      'position:fixed;left:16px;right:16px;bottom:16px;max-width:560px;margin:auto;z-index:2147483647;background:#fff;color:#111;' +
      'border:1px solid #ccc;border-radius:10px;box-shadow:0 8px 30px #0003;padding:16px;font:15px/1.45 system-ui,sans-serif');
    const row = make('div', {}, 'display:flex;gap:12px;align-items:center;flex-wrap:wrap');
    row.append(button('Accept', () => setConsent('granted', 'banner')), button('Decline', () => setConsent('denied', 'banner')),
      prefs = make('a', { href, target: '_blank', rel: 'noopener' }, 'color:#1a4fd6;margin-left:auto', 'Privacy choices'));
    box.append(make('p', { id: 'clarm-consent-text' }, 'margin:0 0 12px', TEXT), row);
    d.body.prepend(box);
  }
  function hideBanner() {
    if (box) box.style.display = 'none';
    if (!asks || state === 'off' || !d.body) return;
    link = link || d.body.appendChild(button('Privacy', showBanner, 'position:fixed;left:12px;bottom:12px;z-index:2147483646;' +
      'font:12px system-ui,sans-serif;padding:4px 10px;border:1px solid #999;border-radius:12px;background:#fff;color:#333'));
    link.setAttribute('aria-label', 'Privacy choices');
    link.style.display = '';
  }
  function resolve(s) {
    if (state !== 'wait') return;
    state = s;
    if (s === 'free') { asks = false; sset(SS, 'clarm_cm', s); restore(); }
    if (s === 'pending' && d.body) showBanner();
    flush();
    widget();
  }

  // ---- chat widget (docs/agents.md)
  let chat = 0;
  const widget = () => chat || !storeOK() || !d.body || (chat = fetch(HOST + '/api/widget' + KEYQ).then((r) => r.json()).then(safe((c) => {
    if (!c.enabled) return;
    api._w = { c, HOST, KEY, track, ids, flush, storeOK };
    d.head.appendChild(make('script', { src: new URL('clarm-widget.js', script.src).href }));
  }), () => 0));

  // ---- automatic capture
  let maxScroll = 0, visMs = 0, visSince = 0, leaveSent = 0, pvId = null, lastUrl = null;
  function scrolled() {
    if (d.readyState === 'loading') return;
    const de = d.documentElement, h = Math.max(de.scrollHeight, d.body.scrollHeight), v = w.innerHeight;
    const pct = h <= v ? 100 : Math.round(Math.min(1, (w.scrollY + v) / h) * 100);
    if (pct > maxScroll) maxScroll = pct;
  }
  function leave(routed) {
    if (leaveSent || !pvId) return;
    leaveSent = 1;
    if (!routed) scrolled();
    const ms = visMs + (visSince ? now() - visSince : 0);
    track('page_leave', { scroll_depth: maxScroll, visible_ms: Math.round(ms), page_view_id: pvId }, 0, lastUrl);
  }
  function pageView() {
    const u = loc.href;
    if (u === lastUrl) return;
    if (lastUrl) { leave(1); ref = lastUrl; }
    lastUrl = u;
    maxScroll = visMs = leaveSent = 0;
    visSince = d.visibilityState === 'visible' ? now() : 0;
    scrolled();
    pvId = track('page_view', { title: d.title, path: loc.pathname });
  }
  function onClick(ev) {
    const t = ev.target, el = t && t.closest && t.closest('a,button,input[type=submit],input[type=button],[role=button]');
    if (!el || el.closest('[' + UI + ']')) return;
    const text = el.innerText || el.textContent || (el.tagName === 'INPUT' ? el.value : '') || '';
    const p = { tag: el.tagName.toLowerCase(), text: ('' + text).replace(/\s+/g, ' ').trim().slice(0, 100) };
    if (typeof el.href === 'string' && el.href) p.href = el.href;
    if (el.id) p.id = el.id;
    const c = typeof el.className === 'string' && el.className.trim();
    if (c) p.classes = c;
    track('click', p);
  }
  // never read: passwords, hidden inputs, card/bank/id numbers
  const SECRET = /pass|^cc|[^a-z]cc|card|cvc|cvv|csc|iban|ssn|social.?sec|secret|token|(^|[^a-z])pin($|[^a-z])/i;
  function onSubmit(ev) {
    const f = ev.target;
    if (!f || f.tagName !== 'FORM') return;
    const names = [], who = {}, get = (el, a) => el.getAttribute(a) || '';
    [].forEach.call(f.querySelectorAll('input,select,textarea'), (el) => {
      const type = get(el, 'type').toLowerCase(), name = get(el, 'name') || el.id;
      if (!name || /^(submit|button|reset|image)$/.test(type)) return;
      names.push(name);
      const id = name + ' ' + el.id + ' ' + get(el, 'autocomplete');
      if (type === 'password' || type === 'hidden' || SECRET.test(id)) return;
      const kind = type === 'email' || /email/i.test(id) ? 'email'
        : type === 'tel' || /phone|mobile|(^|[^a-z])tel/i.test(id) ? 'phone'
          : /^(full[-_ ]?|your[-_ ]?)?name$/i.test(name) ? 'name' : '';
      const v = kind && ('' + el.value).trim();
      if (v && !who[kind]) who[kind] = v.slice(0, 200);
    });
    track('form_submit', { form_id: get(f, 'id'), form_name: get(f, 'name'), action: new URL(get(f, 'action'), loc.href).href, fields: names });
    if (who.email || who.phone) track('identify', who, 1);
  }
  function onHide() {
    if (visSince) { visMs += now() - visSince; visSince = 0; }
    if (AUTO) leave();
    beacon();
  }

  // ---- public API
  function api(cmd, arg) {
    try {
      if (cmd === 'consent') { if (/^(granted|denied)$/.test(arg)) setConsent(arg, 'api'); }
      else if (cmd === 'optout') optout();
      else track(cmd, arg);
    } catch (e) {}
  }
  api.widget = {
    opened: () => api('widget_opened'),
    closed: () => api('widget_closed'),
    messageSent: () => api('message_sent')
  };

  // ---- start
  const saved = savedChoice();
  if (GPC || saved === 'optout') { state = 'off'; wipe(); }
  else if (saved) state = saved;
  else if (MODE === 'not-required') state = 'free';
  else if (MODE === 'required') state = 'pending';
  else if (sget(SS, 'clarm_cm') === 'free') { state = 'free'; asks = false; }
  else {
    state = 'wait';
    const answer = safe(resolve);
    setTimeout(() => answer('pending'), 5000);
    fetch(HOST + '/api/consent' + KEYQ, { credentials: 'omit' })
      .then((r) => (r.ok ? r.json() : {}))
      .then((j) => answer(j && j.consent_required === false ? 'free' : 'pending'), () => answer('pending'));
  }
  restore();

  const queued = (w.ClarmTrack && w.ClarmTrack.q) || [];
  w.ClarmTrack = api;
  if (AUTO && !GPC) {
    ['pushState', 'replaceState'].forEach((m) => {
      const orig = history[m];
      history[m] = function () {
        const r = orig.apply(this, arguments);
        setTimeout(safe(pageView), 0);
        return r;
      };
    });
    w.addEventListener('popstate', safe(pageView));
    w.addEventListener('hashchange', safe(pageView));
    w.addEventListener('scroll', safe(scrolled), { passive: true });
    w.addEventListener('load', safe(scrolled));
    d.addEventListener('click', safe(onClick), true);
    d.addEventListener('submit', safe(onSubmit), true);
    safe(pageView)();
  }
  d.addEventListener('visibilitychange', safe(() => {
    if (d.visibilityState === 'hidden') onHide();
    else if (!visSince) { visSince = now(); leaveSent = 0; }
  }));
  w.addEventListener('pagehide', safe(onHide));
  [].forEach.call(queued, (args) => api.apply(null, args));
  const ui = safe(() => {
    if (state === 'pending') showBanner();
    else if (asks && (state === 'granted' || state === 'denied')) hideBanner();
    widget();
  });
  if (d.body) ui(); else d.addEventListener('DOMContentLoaded', ui);
})(window, document);
