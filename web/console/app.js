// certsync hub console. Plain ES2020 module, no framework, no build step.
// Everything shown comes from the hub's JSON API (docs/PROTOCOL.md §5, §10)
// and is put on the page with textContent / DOM nodes only, never innerHTML.
'use strict';

const POLL_JOB_MS = 700;       // live job panel
const POLL_DEVICES_MS = 5000;  // device list, online badges
const POLL_JOBS_MS = 3000;     // job list

const $ = (id) => document.getElementById(id);

// ---------- small DOM helpers (text only) ----------

// h('td', {class: 'x', dataset: {testid: 'y'}}, 'text', node, ...)
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A table cell whose content sits in one box, so that narrow screens can
// show it as "label: value" (style.css, .table-cards).
function cell(tag, label, attrs, ...children) {
  return h(tag, Object.assign({ 'data-label': label }, attrs || {}), h('div', { class: 'cell-v' }, ...children));
}

function clear(el) { el.replaceChildren(); }
function show(el, on = true) { el.hidden = !on; }
function setText(el, text) { el.textContent = text == null ? '' : String(text); }

// ---------- formatting ----------

function normId(id) { return String(id || '').toUpperCase().replace(/[^A-Z0-9]/g, ''); }

function shortId(id) {
  const s = String(id || '');
  const parts = s.split('-');
  return parts.length > 2 ? `${parts[0]}-${parts[1]}…` : (s.length > 15 ? s.slice(0, 15) + '…' : s);
}

function pad(n) { return String(n).padStart(2, '0'); }

function fmtDate(ts) {
  if (!ts) return '—';
  const d = new Date(ts * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fmtDay(ts) {
  if (!ts) return '—';
  const d = new Date(ts * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function isoDate(ts) { return ts ? new Date(ts * 1000).toISOString() : ''; }

function fmtSpan(secs) {
  secs = Math.abs(Math.round(secs));
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h`;
  return `${Math.floor(secs / 86400)} d`;
}

function fmtAgo(ts) {
  if (!ts) return 'never';
  const d = now() - ts;
  if (d < 5) return 'just now';
  return `${fmtSpan(d)} ago`;
}

function plural(n, word) { return `${n} ${word}${n === 1 ? '' : 's'}`; }

function now() { return Date.now() / 1000; }

function fmtBytes(n) {
  n = Number(n) || 0;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

function timeEl(ts, text) {
  return h('time', { datetime: isoDate(ts) || null, title: ts ? fmtDate(ts) : null }, text);
}

function groupHex(fp) {
  return String(fp || '').toLowerCase().replace(/[^0-9a-f]/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

function normFp(fp) { return String(fp || '').toLowerCase().replace(/[\s:]/g, ''); }

// ---------- state ----------

const state = {
  user: null,
  csrf: null,
  devices: [],          // last GET /v1/admin/devices
  devicesAt: 0,
  byId: new Map(),      // normId -> device
  timers: [],
  route: null,
  sync: { folder: '', source: '', dests: new Set(), all: false },
  job: { id: null, lastStates: new Map() },
  discoverPending: null,
};

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || '';
  }
}

class SessionGone extends Error {}

// ---------- API ----------

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && state.csrf) opts.headers['X-CSRF-Token'] = state.csrf;
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new ApiError(0, { error: 'the hub cannot be reached', code: 'network' });
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = { error: text.slice(0, 200) }; }
  }
  // 401: the session expired or is unknown; 403 "denied": no session cookie
  // at all (the hub then asks for an administrator certificate).
  const gone = res.status === 401 || (res.status === 403 && data && data.code === 'denied');
  if (gone && !path.startsWith('/v1/console/')) {
    sessionExpired();
    throw new SessionGone('session expired');
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data || {};
}

function errText(e) {
  if (e instanceof ApiError) {
    if (e.code === 'csrf') return 'The request was refused (security token missing or wrong). Reload the page.';
    return e.message + (e.code ? ` (${e.code})` : '');
  }
  return e && e.message ? e.message : String(e);
}

// ---------- timers ----------

function every(ms, fn) {
  let stopped = false;
  let t = null;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } catch (e) { if (!(e instanceof SessionGone)) flash(errText(e), true); }
    if (!stopped) t = setTimeout(tick, ms);
  };
  t = setTimeout(tick, ms);
  const stop = () => { stopped = true; clearTimeout(t); };
  state.timers.push(stop);
  return stop;
}

function stopTimers() {
  for (const stop of state.timers) stop();
  state.timers = [];
}

// ---------- messages ----------

let flashTimer = null;
function flash(msg, isError = false) {
  const el = $('flash');
  setText(el, msg);
  el.classList.toggle('flash-error', isError);
  show(el, true);
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => show(el, false), isError ? 10000 : 5000);
}

function announce(msg) {
  const el = $('live');
  setText(el, msg);
}

// ---------- session ----------

function showLogin(message) {
  stopTimers();
  state.user = null;
  state.csrf = null;
  show($('nav'), false);
  show($('whoami'), false);
  for (const v of document.querySelectorAll('.view')) show(v, false);
  show($('view-login'), true);
  const m = $('login-message');
  setText(m, message || '');
  show(m, !!message);
  show($('login-error'), false);
  $('login-password').value = '';
  $('login-password').focus();
}

function sessionExpired() {
  if (state.user === null && !$('view-login').hidden) return;
  showLogin('Your session expired. Sign in again.');
}

function startSession(s) {
  state.user = s.user;
  state.csrf = s.csrf;
  setText($('whoami-user'), s.user);
  show($('nav'), true);
  show($('whoami'), true);
  show($('view-login'), false);
  route();
}

async function onLogin(ev) {
  ev.preventDefault();
  const user = $('login-user').value.trim();
  const password = $('login-password').value;
  const err = $('login-error');
  show(err, false);
  if (!user || !password) {
    setText(err, 'Enter the user and the password.');
    show(err, true);
    return;
  }
  const btn = $('login-submit');
  btn.disabled = true;
  setText(btn, 'Signing in…');
  try {
    const s = await api('POST', '/v1/console/login', { user, password });
    $('login-password').value = '';
    show($('login-message'), false);
    startSession(s);
  } catch (e) {
    setText(err, e instanceof ApiError && e.status === 401
      ? 'Wrong user or password.' : `Sign-in failed: ${errText(e)}`);
    show(err, true);
    $('login-password').select();
  } finally {
    btn.disabled = false;
    setText(btn, 'Sign in');
  }
}

async function onLogout() {
  try { await api('POST', '/v1/console/logout', {}); } catch (e) { /* the session ends anyway */ }
  showLogin('You are signed out.');
}

// ---------- devices ----------

async function loadDevices() {
  const d = await api('GET', '/v1/admin/devices');
  state.devices = (Array.isArray(d.devices) ? d.devices : [])
    .sort((x, y) => String(x.name).localeCompare(String(y.name)) || String(x.device_id).localeCompare(String(y.device_id)));
  state.devicesAt = now();
  state.byId = new Map(state.devices.map((x) => [normId(x.device_id), x]));
  return state.devices;
}

function deviceName(id) {
  const d = state.byId.get(normId(id));
  return d ? d.name : shortId(id);
}

function statusBadge(d) {
  if (d.status === 'revoked') return h('span', { class: 'badge badge-revoked', dataset: { testid: 'device-status' } }, 'revoked');
  return d.online
    ? h('span', { class: 'badge badge-online', dataset: { testid: 'device-status' } }, 'online')
    : h('span', { class: 'badge badge-offline', dataset: { testid: 'device-status' } }, 'offline');
}

function expiryCell(ts) {
  if (!ts) return h('span', null, '—');
  const left = ts - now();
  let cls = 'expiry';
  let note;
  if (left <= 0) { cls += ' expiry-past'; note = 'expired'; }
  else if (left < 30 * 86400) { cls += ' expiry-soon'; note = `in ${fmtSpan(left)}`; }
  else note = `in ${fmtSpan(left)}`;
  return h('span', { class: cls }, timeEl(ts, fmtDay(ts)), h('span', { class: 'muted small' }, ` (${note})`));
}

function idCell(d) {
  const code = h('code', { class: 'devid', title: d.device_id, dataset: { testid: 'device-id', full: d.device_id } }, shortId(d.device_id));
  const copy = h('button', {
    type: 'button', class: 'btn btn-tiny', 'aria-label': `Copy the device ID of ${d.name}`,
    title: 'Copy the full device ID',
    onclick: () => copyText(d.device_id, 'Device ID copied.'),
  }, 'Copy');
  return [code, ' ', copy];
}

async function copyText(text, okMsg) {
  try {
    await navigator.clipboard.writeText(text);
    flash(okMsg);
  } catch (e) {
    // Clipboard refused (permissions): show it so it can be selected by hand.
    flash(text);
  }
}

function renderDevices() {
  const body = $('devices-body');
  clear(body);
  const list = state.devices;
  show($('devices-empty'), list.length === 0);
  const active = list.filter((d) => d.status !== 'revoked');
  const online = active.filter((d) => d.online).length;
  setText($('devices-summary'),
    `${list.length} registered, ${active.length} active, ${online} online · updated ${fmtDate(state.devicesAt)}`);
  for (const d of list) {
    const actions = [];
    if (d.status !== 'revoked') {
      actions.push(h('button', {
        type: 'button', class: 'btn btn-danger btn-small',
        'aria-label': `Revoke ${d.name}`, dataset: { testid: 'device-revoke' },
        onclick: () => revokeDevice(d),
      }, 'Revoke'));
    } else if (d.revoked_at) {
      actions.push(h('span', { class: 'muted small' }, 'revoked ', timeEl(d.revoked_at, fmtAgo(d.revoked_at))));
    }
    const folders = (d.folders || []).length
      ? h('ul', { class: 'tags' }, ...(d.folders || []).map((f) => h('li', { class: 'tag' }, f)))
      : h('span', { class: 'muted' }, 'none');
    const tr = h('tr', {
      class: d.status === 'revoked' ? 'row-revoked' : null,
      dataset: { testid: 'device-row', deviceId: d.device_id, name: d.name, status: d.status, online: String(!!d.online) },
    },
    cell('th', 'Name', { scope: 'row', dataset: { testid: 'device-name' } }, d.name,
      d.address ? h('div', { class: 'muted small' }, d.address) : null),
    cell('td', 'Device ID', null, ...idCell(d)),
    cell('td', 'Status', null, statusBadge(d)),
    cell('td', 'Last seen', { dataset: { testid: 'device-last-seen' } }, timeEl(d.last_seen, fmtAgo(d.last_seen))),
    cell('td', 'Certificate expires', null, expiryCell(d.cert_not_after)),
    cell('td', 'Folders', { dataset: { testid: 'device-folders' } }, folders),
    cell('td', 'Actions', { class: 'cell-actions' }, ...actions));
    body.append(tr);
  }
}

async function refreshDevices() {
  await loadDevices();
  renderDevices();
}

function confirmDialog(title, text, okLabel) {
  const dlg = $('confirm-dialog');
  setText($('confirm-title'), title);
  setText($('confirm-text'), text);
  setText($('confirm-ok'), okLabel);
  const back = document.activeElement;
  return new Promise((resolve) => {
    dlg.returnValue = '';
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      if (back && back.focus) back.focus();
    }, { once: true });
    dlg.showModal();
    $('confirm-cancel').focus();
  });
}

async function revokeDevice(d) {
  const ok = await confirmDialog('Revoke this device?',
    `${d.name} (${d.device_id}) will no longer be able to connect to the hub. This cannot be undone.`,
    'Revoke device');
  if (!ok) return;
  try {
    await api('POST', `/v1/admin/devices/${encodeURIComponent(d.device_id)}/revoke`, {});
    flash(`${d.name} is revoked.`);
    announce(`${d.name} is revoked.`);
    await refreshDevices();
  } catch (e) {
    if (!(e instanceof SessionGone)) flash(`Revoking ${d.name} failed: ${errText(e)}`, true);
  }
}

function result(el, msg, ok) {
  clear(el);
  if (Array.isArray(msg)) el.append(...msg); else setText(el, msg);
  el.classList.toggle('result-ok', !!ok);
  el.classList.toggle('result-error', !ok);
  show(el, true);
}

async function onRegister(ev) {
  ev.preventDefault();
  const out = $('register-result');
  const name = $('register-name').value.trim();
  const address = $('register-address').value.trim();
  const certificate = $('register-cert').value.trim();
  if (!name || !certificate) {
    result(out, 'Enter a name and paste the device certificate (PEM).', false);
    return;
  }
  const body = { name, certificate: certificate + '\n' };
  if (address) body.address = address;
  const btn = $('register-submit');
  btn.disabled = true;
  try {
    const r = await api('POST', '/v1/admin/devices', body);
    result(out, [`Registered ${name} as `, h('code', { class: 'wrap' }, r.device_id || ''), '.'], true);
    announce(`Registered ${name}.`);
    $('register-form').reset();
    await refreshDevices();
  } catch (e) {
    if (!(e instanceof SessionGone)) result(out, `Not registered: ${errText(e)}`, false);
  } finally {
    btn.disabled = false;
  }
}

function resetDiscover() {
  state.discoverPending = null;
  show($('discover-confirm-form'), false);
  show($('discover-form'), true);
  $('discover-fp-check').value = '';
}

async function onDiscover(ev) {
  ev.preventDefault();
  const out = $('discover-result');
  show(out, false);
  const address = $('discover-address').value.trim();
  if (!address) { result(out, 'Enter the device address (host:port).', false); return; }
  const btn = $('discover-submit');
  btn.disabled = true;
  setText(btn, 'Asking…');
  try {
    const r = await api('POST', '/v1/admin/devices/discover', { address });
    state.discoverPending = r;
    setText($('discover-name'), r.name);
    setText($('discover-id'), r.device_id);
    setText($('discover-fp'), groupHex(r.fingerprint));
    $('discover-fp-check').value = '';
    checkDiscoverFp();
    show($('discover-form'), false);
    show($('discover-confirm-form'), true);
    $('discover-fp-check').focus();
  } catch (e) {
    if (!(e instanceof SessionGone)) result(out, `The device did not answer: ${errText(e)}`, false);
  } finally {
    btn.disabled = false;
    setText(btn, 'Ask the device');
  }
}

function checkDiscoverFp() {
  const p = state.discoverPending;
  const typed = normFp($('discover-fp-check').value);
  const el = $('discover-match');
  const match = !!p && typed.length > 0 && typed === normFp(p.fingerprint);
  $('discover-confirm').disabled = !match;
  if (!typed) setText(el, 'Waiting for the fingerprint read on the device.');
  else setText(el, match ? 'The fingerprints match.' : 'The fingerprints differ: do not register this device.');
  el.classList.toggle('result-ok', match);
  el.classList.toggle('result-error', !!typed && !match);
}

async function onDiscoverConfirm(ev) {
  ev.preventDefault();
  const p = state.discoverPending;
  if (!p) return;
  const out = $('discover-result');
  const btn = $('discover-confirm');
  btn.disabled = true;
  try {
    const r = await api('POST', `/v1/admin/devices/discover/${encodeURIComponent(p.pending)}/confirm`,
      { fingerprint: $('discover-fp-check').value.trim() });
    resetDiscover();
    $('discover-form').reset();
    result(out, [`Registered ${p.name} as `, h('code', { class: 'wrap' }, r.device_id || p.device_id), '; its certificate was delivered.'], true);
    announce(`Registered ${p.name}.`);
    await refreshDevices();
  } catch (e) {
    if (!(e instanceof SessionGone)) result(out, `Not confirmed: ${errText(e)}`, false);
    checkDiscoverFp();
  }
}

// ---------- sync form ----------

function activeDevices() { return state.devices.filter((d) => d.status !== 'revoked'); }

function allFolders() {
  const s = new Set();
  for (const d of activeDevices()) for (const f of d.folders || []) s.add(f);
  return [...s].sort();
}

function carriers(folder) {
  return activeDevices().filter((d) => (d.folders || []).includes(folder))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function onlineTag(d) {
  return h('span', { class: d.online ? 'badge badge-online badge-small' : 'badge badge-offline badge-small' },
    d.online ? 'online' : 'offline');
}

function renderSyncForm() {
  const sel = $('sync-folder');
  const folders = allFolders();
  const s = state.sync;
  if (!folders.includes(s.folder)) s.folder = folders[0] || '';
  clear(sel);
  if (folders.length === 0) sel.append(h('option', { value: '' }, 'no folder is carried by any device'));
  for (const f of folders) sel.append(h('option', { value: f, selected: f === s.folder }, f));
  sel.value = s.folder;
  renderSyncChoices();
}

function renderSyncChoices() {
  const s = state.sync;
  const devs = s.folder ? carriers(s.folder) : [];
  if (!devs.some((d) => d.device_id === s.source)) s.source = '';
  const srcList = $('sync-source-list');
  clear(srcList);
  show($('sync-source-empty'), devs.length === 0);
  devs.forEach((d, i) => {
    const id = `src-${i}`;
    srcList.append(h('div', { class: 'choice' },
      h('input', {
        type: 'radio', name: 'source', id, value: d.device_id, checked: d.device_id === s.source,
        dataset: { testid: 'source-option', name: d.name },
        onchange: () => { s.source = d.device_id; s.dests.delete(d.device_id); renderSyncChoices(); },
      }),
      h('label', { for: id }, h('span', { class: 'choice-name' }, d.name), ' ', onlineTag(d),
        h('code', { class: 'devid small', title: d.device_id }, shortId(d.device_id)))));
  });

  const others = devs.filter((d) => d.device_id !== s.source);
  const known = new Set(others.map((d) => d.device_id));
  for (const id of [...s.dests]) if (!known.has(id)) s.dests.delete(id);
  if (s.all) { s.dests = new Set(known); }
  const dstList = $('sync-dest-list');
  clear(dstList);
  show($('sync-dests-empty'), !s.source);
  if (s.source) {
    others.forEach((d, i) => {
      const id = `dst-${i}`;
      dstList.append(h('div', { class: 'choice' },
        h('input', {
          type: 'checkbox', id, value: d.device_id, checked: s.dests.has(d.device_id),
          dataset: { testid: 'dest-option', name: d.name },
          onchange: (ev) => {
            if (ev.target.checked) s.dests.add(d.device_id); else s.dests.delete(d.device_id);
            s.all = false;
            updateSyncSummary();
          },
        }),
        h('label', { for: id }, h('span', { class: 'choice-name' }, d.name), ' ', onlineTag(d),
          h('code', { class: 'devid small', title: d.device_id }, shortId(d.device_id)))));
    });
  }
  $('dest-all').disabled = !s.source || others.length === 0;
  $('dest-none').disabled = !s.source || others.length === 0;
  updateSyncSummary();
}

function updateSyncSummary() {
  const s = state.sync;
  const n = s.dests.size;
  $('dest-all').setAttribute('aria-pressed', String(s.all));
  $('dest-all').classList.toggle('btn-on', s.all);
  let text = '';
  if (!s.source) text = '';
  else if (s.all) text = `All other devices carrying “${s.folder}” (${n} now).`;
  else if (n === 0) text = 'No destination selected.';
  else text = `${n} destination${n === 1 ? '' : 's'} selected.`;
  setText($('sync-dest-summary'), text);
  $('sync-start').disabled = !(s.folder && s.source && n > 0);
}

function onDestAll() {
  state.sync.all = true;
  renderSyncChoices();
  announce(`All ${state.sync.dests.size} other devices selected.`);
}

function onDestNone() {
  state.sync.all = false;
  state.sync.dests.clear();
  renderSyncChoices();
  announce('No destination selected.');
}

async function onSyncStart(ev) {
  ev.preventDefault();
  const s = state.sync;
  const err = $('sync-error');
  show(err, false);
  if (!(s.folder && s.source && s.dests.size > 0)) return;
  const body = { folder: s.folder, source: s.source };
  if (s.all) body.all = true; else body.destinations = [...s.dests];
  const btn = $('sync-start');
  btn.disabled = true;
  try {
    const r = await api('POST', '/v1/admin/jobs', body);
    announce(`Job ${r.job} started.`);
    s.dests.clear();
    s.all = false;
    location.hash = `#/jobs/${r.job}`;
  } catch (e) {
    if (!(e instanceof SessionGone)) {
      setText(err, `The job was not started: ${errText(e)}`);
      show(err, true);
    }
    updateSyncSummary();
  }
}

// ---------- jobs ----------

const JOB_STATE_LABEL = { producing: 'producing', delivering: 'delivering', done: 'done', failed: 'failed' };

function jobBadge(st, testid) {
  return h('span', { class: `badge badge-${st}`, dataset: { testid, state: st } }, JOB_STATE_LABEL[st] || st);
}

function destCounts(job) {
  const c = { applied: 0, failed: 0, total: (job.destinations || []).length };
  for (const d of job.destinations || []) { if (d.state === 'applied') c.applied++; if (d.state === 'failed') c.failed++; }
  return c;
}

async function refreshJobs() {
  if (!state.devices.length || now() - state.devicesAt > 10) await loadDevices();
  const r = await api('GET', '/v1/admin/jobs?limit=100');
  const jobs = Array.isArray(r.jobs) ? r.jobs : [];
  const body = $('jobs-body');
  clear(body);
  show($('jobs-empty'), jobs.length === 0);
  for (const j of jobs) {
    const c = destCounts(j);
    body.append(h('tr', { dataset: { testid: 'job-row', job: String(j.job), state: j.state } },
      cell('th', 'Job', { scope: 'row' },
        h('a', { href: `#/jobs/${j.job}`, dataset: { testid: 'job-open' } }, `Job ${j.job}`)),
      cell('td', 'Folder', null, j.folder),
      cell('td', 'Source', { title: j.source }, deviceName(j.source)),
      cell('td', 'State', null, jobBadge(j.state, 'job-row-state')),
      cell('td', 'Destinations', null,
        `${c.applied}/${c.total} applied` + (c.failed ? `, ${c.failed} failed` : ''),
        h('div', { class: 'muted small' }, (j.destinations || []).map((d) => d.name || deviceName(d.device)).join(', '))),
      cell('td', 'Created', null, timeEl(j.created, fmtDate(j.created)))));
  }
}

function destLabel(d) {
  if (d.state === 'queued') {
    const dev = state.byId.get(normId(d.device));
    if (dev && !dev.online) return 'waiting for device';
  }
  return d.state;
}

function progressRow(label, done, total, fmt, testid) {
  const pct = total > 0 ? Math.round((100 * done) / total) : (done > 0 ? 100 : 0);
  const text = `${fmt(done)} / ${fmt(total)}`;
  const id = `p-${testid}-${Math.random().toString(36).slice(2, 8)}`;
  return h('div', { class: 'prog' },
    h('label', { for: id, class: 'prog-label' }, label),
    h('progress', { id, max: String(Math.max(total, 1)), value: String(total > 0 ? Math.min(done, total) : (done > 0 ? 1 : 0)), 'aria-valuetext': `${text} (${pct}%)` }),
    h('span', { class: 'prog-text', dataset: { testid } }, text));
}

function renderJob(j) {
  setText($('job-title'), `Job ${j.job}`);
  const st = $('job-state');
  setText(st, JOB_STATE_LABEL[j.state] || j.state);
  st.className = `badge badge-${j.state}`;
  st.dataset.state = j.state;
  setText($('job-desc'), `folder “${j.folder}” from ${deviceName(j.source)}`);
  $('job-desc').title = j.source;
  setText($('job-created'), fmtDate(j.created));
  setText($('job-updated'), fmtDate(j.updated));
  const producing = j.state === 'producing';
  setText($('job-files'), producing
    ? `the source is preparing the changes (${plural(j.records ?? 0, 'record')} so far)`
    : `${plural(j.files ?? 0, 'file')} changed, ${plural(j.records ?? 0, 'record')}, ${plural(j.packs ?? 0, 'pack')}`);
  setText($('job-bytes'), fmtBytes(j.bytes_uploaded) + (j.bytes ? ` of ${fmtBytes(j.bytes)}` : ''));
  setText($('job-seq'), j.to_seq && !producing ? String(j.to_seq) : '—');
  const reason = $('job-reason');
  setText(reason, j.reason ? `Failed: ${j.reason}` : '');
  show(reason, !!j.reason);

  const list = $('job-dests');
  clear(list);
  const changes = [];
  for (const d of j.destinations || []) {
    const label = destLabel(d);
    const prev = state.job.lastStates.get(d.device);
    if (prev !== undefined && prev !== label) changes.push(`${d.name || deviceName(d.device)}: ${label}`);
    state.job.lastStates.set(d.device, label);
    const waiting = label === 'waiting for device';
    list.append(h('li', { class: `dest dest-${d.state}`, dataset: { testid: 'dest-row', deviceId: d.device, name: d.name || '', state: d.state } },
      h('div', { class: 'dest-head' },
        h('span', { class: 'dest-name', title: d.device }, d.name || deviceName(d.device)),
        h('span', { class: `badge badge-${waiting ? 'waiting' : d.state}`, dataset: { testid: 'dest-state', state: d.state } }, label)),
      progressRow('Files', d.files_done || 0, d.files_total || 0, (n) => String(n), 'dest-files'),
      progressRow('Bytes', d.bytes_done || 0, d.bytes_total || 0, fmtBytes, 'dest-bytes'),
      h('div', { class: 'muted small' },
        `changes after ${d.history ?? 0}` + (d.updated ? ` · updated ${fmtDate(d.updated)}` : '')),
      d.reason ? h('p', { class: 'error', dataset: { testid: 'dest-reason' } }, d.reason) : null));
  }
  if (changes.length) announce(changes.join('; '));
  const live = j.state !== 'done' && j.state !== 'failed';
  setText($('job-live-note'), live ? 'Updating live…' : `Finished ${fmtDate(j.updated)}.`);
  return live;
}

async function openJob(id) {
  state.job = { id, lastStates: new Map() };
  setText($('job-title'), `Job ${id}`);
  clear($('job-dests'));
  setText($('job-live-note'), 'Loading…');
  if (!state.devices.length) await loadDevices();
  let finishedPolls = 0;
  const tick = async () => {
    const j = await api('GET', `/v1/admin/jobs/${encodeURIComponent(id)}`);
    if (state.job.id !== id) return;
    const live = renderJob(j);
    if (!live) finishedPolls++;
    if (finishedPolls === 1) announce(`Job ${id} ${j.state}.`);
    if (finishedPolls >= 2) stopTimers(); // one more poll after the end, then stop
  };
  try { await tick(); } catch (e) {
    if (e instanceof SessionGone) return;
    setText($('job-live-note'), `Cannot load job ${id}: ${errText(e)}`);
  }
  every(POLL_JOB_MS, tick);
  every(3000, loadDevices); // online badges for "waiting for device"
}

// ---------- history ----------

async function refreshHistory() {
  if (!state.devices.length || now() - state.devicesAt > 10) await loadDevices();
  const sel = $('history-folder');
  const cur = sel.value;
  const folders = allFolders();
  clear(sel);
  sel.append(h('option', { value: '' }, 'all folders'));
  for (const f of folders) sel.append(h('option', { value: f }, f));
  sel.value = folders.includes(cur) ? cur : '';
  const q = sel.value ? `?folder=${encodeURIComponent(sel.value)}` : '';
  const r = await api('GET', `/v1/admin/history${q}`);
  const rows = Array.isArray(r.history) ? r.history : [];
  const body = $('history-body');
  clear(body);
  show($('history-empty'), rows.length === 0);
  for (const x of rows) {
    body.append(h('tr', { dataset: { testid: 'history-row', source: x.source, destination: x.destination, folder: x.folder } },
      cell('td', 'Folder', null, x.folder),
      cell('td', 'Source', { title: x.source }, deviceName(x.source)),
      cell('td', 'Destination', { title: x.destination }, deviceName(x.destination)),
      cell('td', 'Synced up to', { dataset: { testid: 'history-seq' } }, String(x.seq)),
      cell('td', 'Updated', null, timeEl(x.updated, fmtDate(x.updated)))));
  }
}

// ---------- routing ----------

const VIEWS = ['devices', 'sync', 'jobs', 'job', 'history'];

function showView(name) {
  for (const v of VIEWS) show($(`view-${v}`), v === name);
  show($('loading'), false);
  const navName = name === 'job' ? 'jobs' : name;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.id === `nav-${navName}`) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

async function route() {
  if (!state.user) return;
  stopTimers();
  const hash = location.hash || '#/devices';
  const m = hash.match(/^#\/(\w+)(?:\/(\d+))?$/);
  const name = m ? m[1] : 'devices';
  const arg = m ? m[2] : undefined;
  const prev = state.route;
  state.route = hash;
  const safe = async (fn) => { try { await fn(); } catch (e) { if (!(e instanceof SessionGone)) flash(errText(e), true); } };
  if (name === 'jobs' && arg) {
    showView('job');
    document.title = `Job ${arg} · certsync`;
    await safe(() => openJob(Number(arg)));
  } else if (name === 'sync') {
    showView('sync');
    document.title = 'Sync · certsync';
    await safe(async () => { await loadDevices(); renderSyncForm(); });
  } else if (name === 'jobs') {
    showView('jobs');
    document.title = 'Jobs · certsync';
    await safe(refreshJobs);
    every(POLL_JOBS_MS, refreshJobs);
  } else if (name === 'history') {
    showView('history');
    document.title = 'History · certsync';
    await safe(refreshHistory);
  } else {
    showView('devices');
    document.title = 'Devices · certsync';
    await safe(refreshDevices);
    every(POLL_DEVICES_MS, refreshDevices);
  }
  if (prev !== null && prev !== hash) {
    const heading = document.querySelector('.view:not([hidden]) h2');
    if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: false }); }
  }
}

// ---------- wiring ----------

function wire() {
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', onLogout);
  $('devices-refresh').addEventListener('click', () => refreshDevices().catch((e) => { if (!(e instanceof SessionGone)) flash(errText(e), true); }));
  $('register-form').addEventListener('submit', onRegister);
  $('discover-form').addEventListener('submit', onDiscover);
  $('discover-confirm-form').addEventListener('submit', onDiscoverConfirm);
  $('discover-cancel').addEventListener('click', () => { resetDiscover(); $('discover-address').focus(); });
  $('discover-fp-check').addEventListener('input', checkDiscoverFp);
  $('sync-folder').addEventListener('change', (ev) => {
    state.sync.folder = ev.target.value;
    state.sync.source = '';
    state.sync.dests.clear();
    state.sync.all = false;
    renderSyncChoices();
  });
  $('sync-refresh').addEventListener('click', () => loadDevices().then(renderSyncForm).catch((e) => { if (!(e instanceof SessionGone)) flash(errText(e), true); }));
  $('dest-all').addEventListener('click', onDestAll);
  $('dest-none').addEventListener('click', onDestNone);
  $('sync-form').addEventListener('submit', onSyncStart);
  $('jobs-refresh').addEventListener('click', () => refreshJobs().catch((e) => { if (!(e instanceof SessionGone)) flash(errText(e), true); }));
  $('history-refresh').addEventListener('click', () => refreshHistory().catch((e) => { if (!(e instanceof SessionGone)) flash(errText(e), true); }));
  $('history-folder').addEventListener('change', () => refreshHistory().catch((e) => { if (!(e instanceof SessionGone)) flash(errText(e), true); }));
  window.addEventListener('hashchange', route);
}

async function boot() {
  wire();
  try {
    const s = await api('GET', '/v1/console/session');
    startSession(s);
  } catch (e) {
    show($('loading'), false);
    showLogin(e instanceof ApiError && e.status === 401 ? '' : `The hub cannot be reached: ${errText(e)}`);
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
