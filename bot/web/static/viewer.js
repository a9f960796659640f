// Sampark study viewer. Plain JavaScript, no build step, no third-party code.
// Link mode: /s/{token} -> API /s/{token}. Mini App mode: /app/{case} -> API /m/{case},
// every request carrying Telegram's initData in X-Telegram-Init-Data.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const img = $('frame'), stage = $('stage'), slider = $('slider'), statusEl = $('status');
  const FALLBACK = { error: 'Could not load the study.', loading: 'Loading…', of: '{n} of {total}' };
  const CACHE_MAX = 40, NEIGHBOURS = 2, FULL_DELAY = 120, WL_DELAY = 250;

  // ---- where the API is and how to authenticate ------------------------------------
  const match = location.pathname.match(/^\/(s|app)\/([^/]+)\/?$/);
  const headers = {};
  let base = null;
  if (match && match[1] === 's') base = '/s/' + match[2];
  if (match && match[1] === 'app') {
    base = '/m/' + match[2];
    let init = new URLSearchParams(location.hash.slice(1)).get('tgWebAppData');
    try {
      if (init) sessionStorage.setItem('tgWebAppData', init);
      else init = sessionStorage.getItem('tgWebAppData');
    } catch (e) { /* storage may be blocked */ }
    if (init) headers['X-Telegram-Init-Data'] = init;
  }

  // ---- state ------------------------------------------------------------------------
  const S = {
    study: null, labels: FALLBACK, series: null, idx: 0,
    center: null, width: null, invert: false, mode: 'pan',
    zoom: 1, tx: 0, ty: 0,
  };
  let shown = null; // {key, url, sid, idx, center, width, invert, size}
  const cache = new Map(); // key -> {ctrl, p, url}
  let wanted = new Set();
  let fullTimer = 0, wlTimer = 0, retryTimer = 0;

  const label = (k) => (S.labels && S.labels[k]) || FALLBACK[k] || k;
  const round = (x) => Math.round(x * 10) / 10;

  function say(text, isError) {
    statusEl.textContent = text || '';
    statusEl.classList.toggle('error', !!isError);
  }

  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function failure(r) {
    let message = '';
    try { message = (await r.json()).message || ''; } catch (e) { /* not JSON */ }
    return new HttpError(r.status, message || label('error'));
  }

  // ---- frames: fetch as blobs, keep a small LRU, abort what is no longer wanted ------
  function frameParams(size, c, w, inv) {
    const q = new URLSearchParams({ size });
    if (c !== null && w !== null) { q.set('center', round(c)); q.set('width', round(w)); }
    if (inv) q.set('invert', '1');
    return q.toString();
  }

  function frameKey(sid, idx, size) {
    return [sid, idx, size, S.center, S.width, S.invert ? 1 : 0].join('|');
  }

  function frameUrl(sid, idx, size) {
    return base + '/series/' + encodeURIComponent(sid) + '/frames/' + idx + '.jpg?' +
      frameParams(size, S.center, S.width, S.invert);
  }

  function load(sid, idx, size) {
    const key = frameKey(sid, idx, size);
    let e = cache.get(key);
    if (e) { cache.delete(key); cache.set(key, e); return e; }
    const ctrl = new AbortController();
    e = { key, ctrl, url: null, meta: { sid, idx, size, center: S.center, width: S.width, invert: S.invert } };
    e.p = fetch(frameUrl(sid, idx, size), { headers, signal: ctrl.signal, credentials: 'same-origin' })
      .then(async (r) => {
        if (!r.ok) throw await failure(r);
        e.url = URL.createObjectURL(await r.blob());
        return e;
      });
    e.p.catch(() => { if (cache.get(key) === e) cache.delete(key); });
    cache.set(key, e);
    trim();
    return e;
  }

  function drop(key) {
    const e = cache.get(key);
    if (!e) return;
    cache.delete(key);
    if (!e.url) e.ctrl.abort();
    else if (!shown || shown.url !== e.url) URL.revokeObjectURL(e.url);
  }

  function trim() {
    for (const key of cache.keys()) {
      if (cache.size <= CACHE_MAX) break;
      if (!wanted.has(key) && !(shown && shown.key === key)) drop(key);
    }
  }

  function cancelObsolete() {
    for (const [key, e] of cache) if (!e.url && !wanted.has(key)) drop(key);
  }

  // ---- showing a frame ----------------------------------------------------------------
  async function display(e) {
    const probe = new Image();
    probe.src = e.url;
    try { await probe.decode(); } catch (err) { /* shown below anyway */ }
    if (!cache.has(e.key) || !isCurrent(e.meta)) return false;
    const previous = shown;
    shown = Object.assign({ key: e.key, url: e.url }, e.meta);
    img.src = e.url;
    img.alt = S.series.label + ' ' + counterText();
    if (previous && previous.url !== e.url && !cacheHasUrl(previous.url)) {
      URL.revokeObjectURL(previous.url);
    }
    applyFilter();
    say('');
    setOffline(false);
    return true;
  }

  function cacheHasUrl(url) {
    for (const e of cache.values()) if (e.url === url) return true;
    return false;
  }

  function isCurrent(m) {
    return S.series && m.sid === S.series.id && m.idx === S.idx && m.center === S.center &&
      m.width === S.width && m.invert === S.invert;
  }

  function handleError(err) {
    if (err.name === 'AbortError') return;
    const network = err instanceof TypeError;
    if (network) setOffline(true);
    else if (err instanceof HttpError) say(err.message, true);
    if (network || err.status === 429) { // a dropped connection or throttled: try again soon
      clearTimeout(retryTimer);
      retryTimer = setTimeout(show, 5000);
    }
  }

  // Show S.idx: the full image if cached, else the low one first, then the full one.
  function show() {
    const s = S.series;
    if (!s) return;
    const sid = s.id, idx = S.idx;
    const full = frameKey(sid, idx, 'full'), low = frameKey(sid, idx, 'low');
    wanted = new Set([full, low]);
    const sameFrame = shown && shown.sid === sid && shown.idx === idx;
    for (let d = 1; d <= NEIGHBOURS; d++) {
      for (const j of [idx + d, idx - d]) if (j >= 0 && j < s.frames) wanted.add(frameKey(sid, j, 'low'));
    }
    cancelObsolete();
    updateCounter();
    clearTimeout(fullTimer);
    const fullE = cache.get(full);
    if (fullE && fullE.url) { display(fullE).then(prefetch); return; }
    if (!shown) say(label('loading'));
    const fetchFull = () => {
      fullTimer = setTimeout(() => {
        if (!isCurrent({ sid, idx, center: S.center, width: S.width, invert: S.invert })) return;
        load(sid, idx, 'full').p.then(display).then(prefetch).catch(handleError);
      }, FULL_DELAY);
    };
    // A new window on the frame already on screen: the filter previews it, fetch full only.
    if (sameFrame && !cache.has(low)) { fetchFull(); return; }
    load(sid, idx, 'low').p.then(display).then(fetchFull).catch(handleError);
  }

  function prefetch() {
    const s = S.series;
    for (let d = 1; d <= NEIGHBOURS; d++) {
      for (const j of [S.idx + d, S.idx - d]) {
        if (j >= 0 && j < s.frames) load(s.id, j, 'low').p.catch(() => {});
      }
    }
  }

  // ---- window/level preview as an SVG colour filter -----------------------------------
  // The image on screen was rendered with (c0, w0, inv0); map its pixels linearly to what
  // (S.center, S.width, S.invert) would give, until the server's exact frame arrives.
  function applyFilter() {
    if (!shown) return;
    const win = S.series.window || {};
    const c0 = shown.center ?? win.center, w0 = shown.width ?? win.width;
    const c = S.center ?? win.center, w = S.width ?? win.width;
    let k = 1, b = 0;
    if (shown.sid === S.series.id && c0 != null && w0 != null && c != null && w != null) {
      k = w0 / w;
      b = 0.5 - 0.5 * k + (c0 - c) / w;
    }
    // Source pixel y (x = 1 - y when inverted), x' = k x + b, target y' = 1 - x' when inverted.
    let slope = shown.invert ? -k : k, intercept = shown.invert ? k + b : b;
    if (S.invert) { slope = -slope; intercept = 1 - intercept; }
    const identity = Math.abs(slope - 1) < 1e-6 && Math.abs(intercept) < 1e-6;
    for (const ch of 'rgb') {
      const f = $('wl-' + ch);
      f.setAttribute('slope', String(slope));
      f.setAttribute('intercept', String(intercept));
    }
    img.classList.toggle('wl', !identity);
    updateReadout();
  }

  function updateReadout() {
    const s = S.series;
    const c = S.center ?? (s && s.window && s.window.center);
    const w = S.width ?? (s && s.window && s.window.width);
    $('readout').textContent = s && s.grayscale && c != null && w != null
      ? label('window') + ' ' + Math.round(c) + ' / ' + Math.round(w) : '';
  }

  function setWindow(c, w, fetchNow) {
    S.center = c; S.width = w === null ? null : Math.max(1, w);
    applyFilter();
    markPreset();
    clearTimeout(wlTimer);
    if (fetchNow) show(); else wlTimer = setTimeout(show, WL_DELAY);
  }

  // ---- transform: zoom and pan --------------------------------------------------------
  function applyTransform() {
    img.style.transform = 'translate(' + S.tx + 'px,' + S.ty + 'px) scale(' + S.zoom + ')';
  }

  function zoomAt(factor, px, py) {
    const r = stage.getBoundingClientRect();
    const x = px - r.left - r.width / 2, y = py - r.top - r.height / 2;
    const z = Math.min(12, Math.max(1, S.zoom * factor));
    const f = z / S.zoom;
    S.tx = x - (x - S.tx) * f; S.ty = y - (y - S.ty) * f; S.zoom = z;
    if (z === 1) { S.tx = 0; S.ty = 0; }
    applyTransform();
  }

  // ---- pointers: pan / adjust with one, pinch with two, swipe through frames ----------
  const pointers = new Map();
  let gesture = null;

  stage.addEventListener('pointerdown', (ev) => {
    if (!S.series) return;
    stage.setPointerCapture(ev.pointerId);
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    gesture = startGesture();
  });

  function startGesture() {
    const pts = [...pointers.values()];
    if (pts.length >= 2) {
      const [a, b] = pts;
      return { kind: 'pinch', dist: Math.hypot(a.x - b.x, a.y - b.y), mx: (a.x + b.x) / 2, my: (a.y + b.y) / 2 };
    }
    const p = pts[0], s = S.series;
    if (S.mode === 'adjust' && canAdjust()) {
      return {
        kind: 'adjust', x: p.x, y: p.y,
        c: S.center ?? s.window.center, w: S.width ?? s.window.width,
      };
    }
    if (S.zoom > 1 || s.frames < 2) return { kind: 'pan', x: p.x, y: p.y, tx: S.tx, ty: S.ty };
    return { kind: 'swipe', x: p.x, y: p.y, idx: S.idx };
  }

  stage.addEventListener('pointermove', (ev) => {
    const p = pointers.get(ev.pointerId);
    if (!p || !gesture) return;
    p.x = ev.clientX; p.y = ev.clientY;
    const g = gesture;
    if (g.kind === 'pinch') {
      const [a, b] = [...pointers.values()];
      const dist = Math.hypot(a.x - b.x, a.y - b.y);
      const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
      if (g.dist > 0) zoomAt(dist / g.dist, mx, my);
      if (S.zoom > 1) { S.tx += mx - g.mx; S.ty += my - g.my; applyTransform(); }
      g.dist = dist; g.mx = mx; g.my = my;
    } else if (g.kind === 'pan') {
      S.tx = g.tx + p.x - g.x; S.ty = g.ty + p.y - g.y; applyTransform();
    } else if (g.kind === 'adjust') {
      // Horizontal drag changes the width, vertical drag the level (down = higher level).
      const w = g.w * Math.pow(2, (p.x - g.x) / 150);
      const c = g.c + (p.y - g.y) * g.w / 300;
      S.center = c; S.width = Math.max(1, w);
      applyFilter();
      markPreset();
    } else if (g.kind === 'swipe') {
      const d = (Math.abs(p.x - g.x) > Math.abs(p.y - g.y) ? g.x - p.x : g.y - p.y);
      const step = Math.max(8, Math.min(40, stage.clientHeight / S.series.frames));
      const dir = document.documentElement.dir === 'rtl' && Math.abs(p.x - g.x) > Math.abs(p.y - g.y) ? -1 : 1;
      goTo(g.idx + dir * Math.trunc(d / step));
    }
  });

  function endPointer(ev) {
    if (!pointers.delete(ev.pointerId)) return;
    const was = gesture;
    gesture = pointers.size ? startGesture() : null;
    if (was && was.kind === 'adjust' && !gesture) {
      clearTimeout(wlTimer);
      wlTimer = setTimeout(show, WL_DELAY);
    }
  }
  stage.addEventListener('pointerup', endPointer);
  stage.addEventListener('pointercancel', endPointer);
  stage.addEventListener('dblclick', resetView);

  let wheel = 0;
  stage.addEventListener('wheel', (ev) => {
    if (!S.series) return;
    ev.preventDefault();
    if (ev.ctrlKey) { zoomAt(Math.exp(-ev.deltaY / 200), ev.clientX, ev.clientY); return; }
    wheel += ev.deltaMode ? ev.deltaY * 40 : ev.deltaY;
    if (Math.abs(wheel) < 50) return;
    goTo(S.idx + Math.sign(wheel));
    wheel = 0;
  }, { passive: false });

  document.addEventListener('keydown', (ev) => {
    if (!S.series || ev.altKey || ev.metaKey || ev.ctrlKey) return;
    const t = ev.target;
    if (t === slider || (t instanceof HTMLElement && t.isContentEditable)) return;
    const rtl = document.documentElement.dir === 'rtl';
    const keys = {
      ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10,
      ArrowRight: rtl ? -1 : 1, ArrowLeft: rtl ? 1 : -1,
    };
    if (ev.key in keys) goTo(S.idx + keys[ev.key]);
    else if (ev.key === 'Home') goTo(0);
    else if (ev.key === 'End') goTo(S.series.frames - 1);
    else if (ev.key === '+' || ev.key === '=') zoomAtCentre(1.25);
    else if (ev.key === '-') zoomAtCentre(0.8);
    else if (ev.key === 'i') toggleInvert();
    else if (ev.key === 'r') resetAll();
    else return;
    ev.preventDefault();
  });

  function zoomAtCentre(f) {
    const r = stage.getBoundingClientRect();
    zoomAt(f, r.left + r.width / 2, r.top + r.height / 2);
  }

  // ---- controls -----------------------------------------------------------------------
  function counterText() {
    return label('of').replace('{n}', S.idx + 1).replace('{total}', S.series.frames);
  }

  function updateCounter() {
    slider.value = String(S.idx + 1);
    $('counter').textContent = counterText();
  }

  function goTo(i) {
    const n = Math.max(0, Math.min(S.series.frames - 1, i));
    if (n === S.idx) return;
    S.idx = n;
    show();
  }

  slider.addEventListener('input', () => goTo(Number(slider.value) - 1));

  function canAdjust() { return !!(S.series && S.series.grayscale && S.series.window); }

  function setMode(mode) {
    S.mode = mode === 'adjust' && canAdjust() ? 'adjust' : 'pan';
    $('mode-pan').setAttribute('aria-pressed', String(S.mode === 'pan'));
    $('mode-adjust').setAttribute('aria-pressed', String(S.mode === 'adjust'));
    stage.classList.toggle('adjust', S.mode === 'adjust');
    stage.classList.toggle('pan', S.mode === 'pan');
  }

  function toggleInvert() {
    S.invert = !S.invert;
    $('invert').setAttribute('aria-pressed', String(S.invert));
    applyFilter();
    clearTimeout(wlTimer);
    wlTimer = setTimeout(show, WL_DELAY);
  }

  function resetView() { S.zoom = 1; S.tx = 0; S.ty = 0; applyTransform(); }

  function resetAll() {
    resetView();
    S.invert = false;
    $('invert').setAttribute('aria-pressed', 'false');
    setMode('pan');
    setWindow(null, null, true);
  }

  $('mode-pan').addEventListener('click', () => setMode('pan'));
  $('mode-adjust').addEventListener('click', () => setMode('adjust'));
  $('invert').addEventListener('click', toggleInvert);
  $('reset').addEventListener('click', resetAll);

  function chip(text, extra, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'chip';
    b.textContent = text;
    if (extra) {
      const small = document.createElement('small');
      small.textContent = extra;
      b.append(small);
    }
    b.setAttribute('aria-pressed', 'false');
    b.addEventListener('click', onClick);
    return b;
  }

  function markPreset() {
    const presets = (S.series && S.series.presets) || [];
    $('presets').querySelectorAll('.chip').forEach((b, i) => {
      const p = presets[i];
      b.setAttribute('aria-pressed', String(!!p && p.center === S.center && p.width === S.width));
    });
  }

  function selectSeries(i) {
    const s = S.study.series[i];
    S.series = s; S.idx = 0; S.center = null; S.width = null;
    resetView();
    $('series').querySelectorAll('.chip').forEach((b, j) => b.setAttribute('aria-pressed', String(i === j)));
    const box = $('presets');
    const presets = (s.grayscale && s.presets) || [];
    box.replaceChildren(...presets.map((p) =>
      chip(p.name, null, () => setWindow(p.center, p.width, true))));
    $('presets-box').hidden = !presets.length;
    $('mode-adjust').disabled = !canAdjust();
    setMode(S.mode);
    slider.max = String(s.frames);
    slider.disabled = s.frames < 2;
    updateReadout();
    show();
  }

  // ---- connectivity -------------------------------------------------------------------
  function setOffline(off) {
    const el = $('offline');
    el.textContent = label('offline');
    el.hidden = !off;
  }
  addEventListener('offline', () => setOffline(true));
  addEventListener('online', () => { setOffline(false); show(); });
  addEventListener('pagehide', () => { for (const k of [...cache.keys()]) drop(k); });

  // ---- Telegram Mini App: tell the client we are ready (no telegram-web-app.js) -------
  function telegram(type, data) {
    const payload = JSON.stringify(data || {});
    try {
      if (window.TelegramWebviewProxy) window.TelegramWebviewProxy.postEvent(type, payload);
      else if (window.parent !== window) {
        window.parent.postMessage(JSON.stringify({ eventType: type, eventData: data || {} }), 'https://web.telegram.org');
      }
    } catch (e) { /* not inside Telegram */ }
  }

  // ---- start --------------------------------------------------------------------------
  function render(study) {
    S.study = study;
    S.labels = Object.assign({}, FALLBACK, study.labels || {});
    const root = document.documentElement;
    root.lang = study.lang || 'en';
    root.dir = study.dir === 'rtl' ? 'rtl' : 'ltr';
    document.title = label('title');
    $('title').textContent = label('title');
    $('code').textContent = study.case && study.case.code || '';
    for (const [id, key] of [['mode-pan', 'pan'], ['mode-adjust', 'adjust'], ['invert', 'invert'],
      ['reset', 'reset'], ['download', 'download'], ['presets-title', 'presets'],
      ['series-title', 'series'], ['card-title', 'case']]) $(id).textContent = label(key);
    slider.setAttribute('aria-label', label('frame'));
    const banner = $('banner');
    banner.textContent = label('burned_in');
    banner.hidden = !study.burned_in;
    const lines = (study.case && study.case.lines) || [];
    $('lines').replaceChildren(...lines.map((t) => {
      const li = document.createElement('li');
      li.textContent = t;
      return li;
    }));
    $('card').hidden = !lines.length;
    setupDownload(study.can_download);
    const series = study.series || [];
    $('series').replaceChildren(...series.map((s, i) =>
      chip(s.label, [s.modality && !s.label.includes(s.modality) ? s.modality : '',
        s.frames > 1 ? s.frames : ''].filter(Boolean).join(' · '), () => selectSeries(i))));
    $('series-box').hidden = series.length < 2;
    if (!series.length) { fail(label('error')); return; }
    selectSeries(0);
  }

  function setupDownload(allowed) {
    const a = $('download');
    a.hidden = !allowed;
    if (!allowed) return;
    a.href = base + '/download.zip';
    if (!headers['X-Telegram-Init-Data']) return; // link mode: the browser streams it
    a.addEventListener('click', async (ev) => {
      ev.preventDefault();
      say(label('loading'));
      // A navigation cannot carry initData: ask for a one-use ticket URL and let the
      // browser stream the zip to disk (no Blob of the whole study in memory).
      try {
        const r = await fetch(base + '/download-ticket', {
          method: 'POST', headers, credentials: 'same-origin',
        });
        if (!r.ok) throw await failure(r);
        const ticket = await r.json();
        const t = document.createElement('a');
        t.href = ticket.url; t.download = (S.study.case && S.study.case.code || 'study') + '.zip';
        document.body.append(t); t.click(); t.remove();
        say('');
      } catch (err) { handleError(err); }
    });
  }

  function fail(message) {
    document.body.classList.add('failed');
    say(message, true);
  }

  async function start() {
    if (!base) { fail(label('error')); return; }
    if (match[1] === 'app') { telegram('web_app_ready'); telegram('web_app_expand'); }
    try {
      const r = await fetch(base + '/study', { headers, credentials: 'same-origin' });
      if (!r.ok) throw await failure(r);
      render(await r.json());
    } catch (err) {
      if (err instanceof HttpError) fail(err.message);
      else { setOffline(true); fail(label('error')); }
    }
  }

  start();
})();
