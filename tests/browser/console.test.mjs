// Browser tests of the hub's web console (issue 3), with Playwright driving
// Debian's chromium against a real hub and real device agents on loopback.
//
// Devices and folders:
//   docs   carried by A, B, C         -> "all others" job from A: B and C
//   photos carried by A, B, C, D     -> one destination (C); a batch of two of three (B, D)
//   notes  carried by A, E           -> E's agent is not running: "waiting", then applied
//   F: registered by pasting its certificate in the console, then revoked there.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import { chromium } from 'playwright-core';
import {
  Cluster, CHROMIUM, SHOTS, csOk, cs, run, sleep, waitFor, freePort, treeSig, sigText, fillFolder,
} from './lib.mjs';

const JOB_TIMEOUT = 90000;
const c = new Cluster('console');
let browser;
let context;
let page;
const cspViolations = [];
const pageErrors = [];

function newPageHooks(p) {
  p.on('console', (m) => {
    if (/Content[- ]Security[- ]Policy|Refused to (load|apply|execute)/i.test(m.text())) cspViolations.push(m.text());
  });
  p.on('pageerror', (e) => pageErrors.push(e.message));
}

async function login(p, password = c.password) {
  await p.goto(c.url + '/');
  await p.locator('#login-form').waitFor({ state: 'visible' });
  await p.fill('#login-user', 'admin');
  await p.fill('#login-password', password);
  await p.click('#login-submit');
}

async function loggedIn(p) {
  await login(p);
  await p.locator('#view-devices').waitFor({ state: 'visible' });
}

const row = (p, name) => p.locator(`#devices-body tr[data-testid="device-row"][data-name="${name}"]`);
const destRow = (p, name) => p.locator(`#job-dests [data-testid="dest-row"][data-name="${name}"]`);
const destState = (p, name) => destRow(p, name).locator('[data-testid="dest-state"]');

// On the Sync page: choose the folder and the source, then the destinations
// ('all' = the one-click "All other devices" button, or a list of names to tick
// one at a time), press Start; returns the job ID from the job page's address.
async function startJob(p, { folder, source, dests }) {
  await p.click('#nav-sync');
  await p.locator('#view-sync').waitFor({ state: 'visible' });
  await p.selectOption('#sync-folder', folder);
  await p.check(`#sync-source-list input[data-name="${source}"]`);
  if (dests === 'all') {
    await p.click('#dest-all');
  } else {
    for (const d of dests) await p.check(`#sync-dest-list input[data-name="${d}"]`);
  }
  await assert.doesNotReject(p.locator('#sync-start:enabled').waitFor({ timeout: 5000 }), 'Start is enabled');
  await p.click('#sync-start');
  await p.waitForURL(/#\/jobs\/\d+$/, { timeout: 10000 });
  await p.locator('#view-job').waitFor({ state: 'visible' });
  return Number(/#\/jobs\/(\d+)$/.exec(p.url())[1]);
}

// The job page lists exactly these destinations (by name).
async function destNames(p, expected) {
  const names = () => p.locator('#job-dests [data-testid="dest-row"]')
    .evaluateAll((els) => els.map((e) => e.dataset.name).sort().join(','));
  await waitFor(`destinations ${expected}`, async () => (await names()) === [...expected].sort().join(','), { timeout: 15000 })
    .catch(async (e) => { throw new Error(`${e.message} (page shows: ${await names()})`); });
}

async function waitApplied(p, names) {
  try {
    for (const n of names) {
      await destState(p, n).filter({ hasText: /^applied$/ }).waitFor({ timeout: JOB_TIMEOUT });
    }
    await p.locator('#job-state[data-state="done"]').waitFor({ timeout: JOB_TIMEOUT });
  } catch (e) {
    // Say where the job stands, from the hub's own answer.
    const m = /#\/jobs\/(\d+)$/.exec(p.url());
    const j = m ? await c.job(m[1]).catch((x) => ({ error: x.message })) : null;
    throw new Error(`${e.message.split('\n')[0]}\njob as the hub reports it: ${JSON.stringify(j)}`);
  }
}

async function assertTreesEqual(src, dst, what) {
  const a = await treeSig(src);
  const b = await treeSig(dst);
  assert.ok(a.size >= 4, `${src} holds the test files`);
  assert.equal(sigText(b), sigText(a), `${what}: trees match (sha256 of every file)`);
}

// it() that remembers a failure, so that the temporary files are kept.
function step(name, fn) {
  it(name, async (t) => {
    try { await fn(t); } catch (e) { c.failed = true; throw e; }
  });
}

async function shot(p, name) {
  await fsp.mkdir(SHOTS, { recursive: true });
  await p.screenshot({ path: path.join(SHOTS, name), fullPage: true });
}

describe('hub web console', { concurrency: 1 }, () => {
  before(async () => {
    c.failed = true; // until the setup is done
    assert.ok(fs.existsSync(CHROMIUM), `chromium at ${CHROMIUM} (apt-get install chromium)`);
    await c.hubInit();
    assert.ok(c.password, 'hub init gives a console password (HUB/admin/console-password)');
    await c.hubStart();
    // E first: its agent stays off, and the hub counts a device as online for
    // 90 s after its last request (folder add), so it has the most time to go offline.
    for (const n of ['E', 'A', 'B', 'C', 'D']) await c.deviceNew(n);
    await c.folderAdd('E', 'notes');
    for (const n of ['A', 'B', 'C']) await c.folderAdd(n, 'docs');
    for (const n of ['A', 'B', 'C', 'D']) await c.folderAdd(n, 'photos');
    await c.folderAdd('A', 'notes');
    await fillFolder(c.folderDir('A', 'docs'), 'docs');
    await fillFolder(c.folderDir('A', 'photos'), 'photos', { binaryKiB: 1536 });
    await fillFolder(c.folderDir('A', 'notes'), 'notes', { binaryKiB: 64 });
    for (const n of ['A', 'B', 'C', 'D']) c.agentStart(n);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 900 } });
    page = await context.newPage();
    newPageHooks(page);
    c.failed = false;
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    await c.cleanup();
  });

  step('serves the console with a strict Content-Security-Policy and no external resources', async () => {
    const res = await c.httpGet('/');
    assert.equal(res.status, 200);
    const csp = res.headers['content-security-policy'] || '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /style-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(res.body, /https?:\/\//, 'index.html loads nothing from elsewhere');
    assert.doesNotMatch(res.body, /<script>|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler');
    const external = [];
    page.on('request', (r) => { if (!r.url().startsWith(c.url)) external.push(r.url()); });
    await page.goto(c.url + '/');
    await page.locator('#login-form').waitFor({ state: 'visible' });
    assert.deepEqual(external, []);
  });

  step('refuses a wrong admin password', async () => {
    await login(page, 'not-the-password');
    const err = page.locator('#login-error');
    await err.waitFor({ state: 'visible', timeout: 20000 });
    assert.match(await err.textContent(), /wrong user or password/i);
    assert.ok(await page.locator('#view-devices').isHidden(), 'the devices stay hidden');
    const status = await page.evaluate(async () => (await fetch('/v1/admin/devices', { credentials: 'same-origin' })).status);
    assert.ok(status === 401 || status === 403, `no session: the admin API refuses (${status})`);
  });

  step('logs in and lists the enrolled devices', async () => {
    await loggedIn(page);
    for (const n of ['A', 'B', 'C', 'D', 'E']) {
      const r = row(page, n);
      await r.waitFor();
      assert.equal(await r.getAttribute('data-device-id'), c.ids[n]);
      assert.equal(await r.locator('[data-testid="device-id"]').getAttribute('title'), c.ids[n], 'full ID on the title');
    }
    await waitFor('A shown online', async () => (await row(page, 'A').getAttribute('data-online')) === 'true', { timeout: 15000 });
    assert.match(await row(page, 'A').locator('[data-testid="device-folders"]').textContent(), /docs.*photos|photos.*docs/);
    assert.match(await row(page, 'A').locator('[data-testid="device-status"]').textContent(), /online/);
  });

  step('syncs from A to all other devices with one click: B and C reach "applied"', async () => {
    const job = await startJob(page, { folder: 'docs', source: 'A', dests: 'all' });
    await destNames(page, ['B', 'C']); // the other devices carrying docs
    await waitApplied(page, ['B', 'C']);
    for (const n of ['B', 'C']) await assertTreesEqual(c.folderDir('A', 'docs'), c.folderDir(n, 'docs'), `docs on ${n}`);
    const files = await destRow(page, 'B').locator('[data-testid="dest-files"]').textContent();
    assert.match(files, /^(\d+) \/ \1$/, `files done = total (${files})`);
    const j = await c.job(job);
    assert.equal(j.state, 'done');
    await shot(page, 'job-finished.png');
  });

  step('syncs to a single destination', async () => {
    await startJob(page, { folder: 'photos', source: 'A', dests: ['C'] });
    await destNames(page, ['C']);
    await waitApplied(page, ['C']);
    await assertTreesEqual(c.folderDir('A', 'photos'), c.folderDir('C', 'photos'), 'photos on C');
    assert.equal((await treeSig(c.folderDir('B', 'photos'))).size, 0, 'B got nothing');
  });

  step('syncs to a batch of two of the three other devices', async () => {
    await fsp.writeFile(path.join(c.folderDir('A', 'photos'), 'added-later.txt'), 'a change after the first round\n');
    await startJob(page, { folder: 'photos', source: 'A', dests: ['B', 'D'] });
    await destNames(page, ['B', 'D']);
    await waitApplied(page, ['B', 'D']);
    for (const n of ['B', 'D']) await assertTreesEqual(c.folderDir('A', 'photos'), c.folderDir(n, 'photos'), `photos on ${n}`);
    assert.ok(!fs.existsSync(path.join(c.folderDir('C', 'photos'), 'added-later.txt')), 'C, not in the batch, is unchanged');
  });

  step('shows the job list and the history of each source/destination pair', async () => {
    await page.click('#nav-jobs');
    await page.locator('#jobs-body tr[data-testid="job-row"]').first().waitFor();
    assert.ok(await page.locator('#jobs-body tr[data-testid="job-row"]').count() >= 3);
    await page.click('#nav-history');
    await page.locator('#history-body tr[data-testid="history-row"]').first().waitFor();
    const pairs = await page.locator('#history-body tr').evaluateAll((els) => els.map((e) => e.dataset.folder + ':' + e.dataset.destination));
    for (const [f, n] of [['docs', 'B'], ['docs', 'C'], ['photos', 'B'], ['photos', 'C'], ['photos', 'D']]) {
      assert.ok(pairs.includes(`${f}:${c.ids[n]}`), `history has ${f} -> ${n}`);
    }
    // Opening a job from the list shows its panel.
    await page.click('#nav-jobs');
    await page.locator('#jobs-body [data-testid="job-open"]').last().click();
    await page.locator('#job-state[data-state="done"]').waitFor();
  });

  step('refuses a forged request without the CSRF token', async () => {
    await page.click('#nav-devices');
    await page.locator('#view-devices').waitFor({ state: 'visible' });
    const forged = await page.evaluate(async (src) => {
      const r = await fetch('/v1/admin/jobs', {
        method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ folder: 'docs', source: src, all: true }),
      });
      return { status: r.status, body: await r.json().catch(() => null) };
    }, c.ids.A);
    assert.equal(forged.status, 403, JSON.stringify(forged));
    assert.equal(forged.body && forged.body.code, 'csrf');
    const wrong = await page.evaluate(async () => {
      const r = await fetch('/v1/admin/tokens', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': 'forged' }, body: '{}',
      });
      return r.status;
    });
    assert.equal(wrong, 403, 'a wrong token is refused too');
    const jobs = JSON.parse(await c.hub(['job', 'list', '--json'])).jobs;
    assert.equal(jobs.length, 3, 'the forged job was not created');
  });

  step('registers a device from a pasted certificate, then revokes it so it cannot connect', async () => {
    // F makes its own key; the operator has its certificate issued by the hub CA.
    const dir = c.deviceDir('F');
    const id = (await csOk(['device', 'init', '--data', dir, '--name', 'F'])).split('\n').pop().trim();
    c.ids.F = id;
    await run('openssl', ['req', '-new', '-key', path.join(dir, 'device.key'), '-subj', '/CN=F', '-out', path.join(dir, 'f.csr')]);
    await fsp.writeFile(path.join(dir, 'ext.cnf'), [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyAgreement',
      'extendedKeyUsage=clientAuth,serverAuth',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid:always',
      `subjectAltName=URI:urn:certsync:device:${id}`,
      '',
    ].join('\n'));
    await run('openssl', ['x509', '-req', '-in', path.join(dir, 'f.csr'), '-CA', path.join(c.hubData, 'ca', 'ca.crt'),
      '-CAkey', path.join(c.hubData, 'ca', 'ca.key'), '-set_serial', '0x' + Date.now().toString(16) + '01',
      '-days', '30', '-sha256', '-extfile', path.join(dir, 'ext.cnf'), '-out', path.join(dir, 'device.crt')]);
    const pem = await fsp.readFile(path.join(dir, 'device.crt'), 'utf8');

    await page.fill('#register-name', 'F');
    await page.fill('#register-address', '127.0.0.1:9');
    await page.fill('#register-cert', pem);
    await page.click('#register-submit');
    const res = page.locator('#register-result');
    await res.filter({ hasText: 'Registered' }).waitFor({ timeout: 10000 });
    assert.match(await res.textContent(), new RegExp(id.replace(/-/g, '-?')));
    await row(page, 'F').waitFor();
    assert.equal(await row(page, 'F').getAttribute('data-status'), 'active');

    // With its certificate, F can use the hub.
    await fsp.copyFile(path.join(c.hubData, 'ca', 'ca.crt'), path.join(dir, 'ca.crt'));
    await fsp.writeFile(path.join(dir, 'device.json'), JSON.stringify({ name: 'F', hub: `127.0.0.1:${c.port}` }) + '\n');
    const before = await cs(['agent', 'run', '--once', '--data', dir]);
    assert.equal(before.code, 0, `F connects before the revocation: ${before.stderr}`);

    // Revoke in the console: a confirmation dialog first; Cancel keeps it.
    await row(page, 'F').locator('[data-testid="device-revoke"]').click();
    await page.locator('#confirm-dialog[open]').waitFor();
    assert.match(await page.locator('#confirm-text').textContent(), new RegExp(id));
    await page.click('#confirm-cancel');
    assert.equal(await row(page, 'F').getAttribute('data-status'), 'active', 'Cancel does not revoke');
    await row(page, 'F').locator('[data-testid="device-revoke"]').click();
    await page.locator('#confirm-dialog[open]').waitFor();
    await page.click('#confirm-ok');
    await page.locator('#devices-body tr[data-name="F"][data-status="revoked"]').waitFor({ timeout: 10000 });
    assert.match(await row(page, 'F').locator('[data-testid="device-status"]').textContent(), /revoked/);

    const after = await cs(['agent', 'run', '--once', '--data', dir]);
    assert.notEqual(after.code, 0, 'F cannot connect any more');
    assert.match(after.stderr + after.stdout, /revoked/i);

    await shot(page, 'devices.png');
    const phone = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 375, height: 800 }, isMobile: true, hasTouch: true });
    try {
      const pp = await phone.newPage();
      newPageHooks(pp);
      await loggedIn(pp);
      await row(pp, 'F').waitFor();
      const width = await pp.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 375, `no horizontal scrolling at 375 px (${width})`);
      await shot(pp, 'devices-phone.png');
    } finally {
      await phone.close();
    }
  });

  step('discovers a device at its address and registers it once the fingerprint matches', async () => {
    const dir = c.deviceDir('G');
    c.ids.G = (await csOk(['device', 'init', '--data', dir, '--name', 'G'])).split('\n').pop().trim();
    const caFp = crypto.createHash('sha256')
      .update(Buffer.from((await fsp.readFile(path.join(c.hubData, 'ca', 'ca.crt'), 'utf8')).replace(/-----[^-]+-----|\s/g, ''), 'base64'))
      .digest('hex');
    const port = await freePort();
    const listener = c.spawnLogged('listen-G', ['device', 'listen', '--data', dir, '--listen', `127.0.0.1:${port}`,
      '--hub', `127.0.0.1:${c.port}`, '--hub-ca', caFp]);
    const log = path.join(c.dir, 'listen-G.log');
    const out = await waitFor('the device to listen', async () => {
      const t = await fsp.readFile(log, 'utf8');
      return /listening on port/.test(t) && t;
    }, { timeout: 20000 });
    const fp = /^fingerprint\s+(\S+)/m.exec(out)[1];

    await page.fill('#discover-address', `127.0.0.1:${port}`);
    await page.click('#discover-submit');
    await page.locator('#discover-confirm-form').waitFor({ state: 'visible', timeout: 20000 });
    assert.equal(await page.locator('#discover-name').textContent(), 'G');
    assert.equal(await page.locator('#discover-id').textContent(), c.ids.G);
    assert.equal((await page.locator('#discover-fp').textContent()).replace(/\s/g, ''), fp.toLowerCase());
    const wrong = fp.replace(/[0-9a-f]/, (d) => (d === '0' ? '1' : '0'));
    await page.fill('#discover-fp-check', wrong);
    assert.ok(await page.locator('#discover-confirm').isDisabled(), 'a different fingerprint cannot be confirmed');
    await page.fill('#discover-fp-check', fp.toUpperCase().replace(/(..)(?=.)/g, '$1:'));
    assert.ok(await page.locator('#discover-confirm').isEnabled(), 'the same fingerprint, in another notation, can');
    await page.click('#discover-confirm');
    await page.locator('#discover-result').filter({ hasText: 'Registered G' }).waitFor({ timeout: 20000 });
    await row(page, 'G').waitFor();
    await waitFor('the device to receive its certificate', () => fs.existsSync(path.join(dir, 'device.crt')), { timeout: 20000 });
    await waitFor('the listener to stop', () => listener.exitCode !== null, { timeout: 20000 });
  });

  step('labels every control', async () => {
    for (const view of ['devices', 'sync']) {
      await page.click(`#nav-${view}`);
      await page.locator(`#view-${view}`).waitFor({ state: 'visible' });
      const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter((el) => el.offsetParent !== null)
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !(el.textContent || '').trim())
        .map((el) => el.outerHTML.slice(0, 80)));
      assert.deepEqual(unlabelled, [], `every control on ${view} has a label`);
    }
    // The Sync page works from the keyboard: source with arrows/space, "All other devices" with Enter.
    await page.selectOption('#sync-folder', 'docs');
    await page.focus('#sync-source-list input[data-name="A"]');
    await page.keyboard.press('Space');
    assert.ok(await page.locator('#sync-source-list input[data-name="A"]').isChecked());
    await page.focus('#dest-all');
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('#dest-all').getAttribute('aria-pressed'), 'true');
    assert.equal(await page.locator('#sync-dest-list input:checked').count(), 2);
    await page.focus('#dest-none');
    await page.keyboard.press('Space');
    assert.equal(await page.locator('#sync-dest-list input:checked').count(), 0);
    assert.ok(await page.locator('#sync-start').isDisabled(), 'nothing to start without a destination');
    await page.click('#nav-devices');
  });

  step('shows an offline destination as waiting, then completes when its agent starts', async () => {
    await waitFor('E to count as offline', async () => !(await c.device('E')).online, { timeout: 120000, interval: 2000 });
    await startJob(page, { folder: 'notes', source: 'A', dests: ['E'] });
    await destState(page, 'E').filter({ hasText: 'waiting for device' }).waitFor({ timeout: 30000 });
    assert.equal(await destRow(page, 'E').getAttribute('data-state'), 'queued');
    assert.notEqual(await page.locator('#job-state').getAttribute('data-state'), 'done');
    await shot(page, 'job-waiting.png');
    c.agentStart('E');
    await waitApplied(page, ['E']);
    await assertTreesEqual(c.folderDir('A', 'notes'), c.folderDir('E', 'notes'), 'notes on E');
  });

  step('returns to the login page when the session has expired', async () => {
    await c.hubStop();
    await c.hubConfig({ console_idle_s: 2 });
    await c.hubStart();
    await loggedIn(page);
    await sleep(3000);
    await page.click('#devices-refresh');
    const msg = page.locator('#login-message');
    await msg.waitFor({ state: 'visible', timeout: 10000 });
    assert.match(await msg.textContent(), /session expired/i);
    assert.ok(await page.locator('#view-login').isVisible());
    assert.ok(await page.locator('#view-devices').isHidden());
    const status = await page.evaluate(async () => (await fetch('/v1/admin/devices', { credentials: 'same-origin' })).status);
    assert.equal(status, 401, 'the expired session is refused by the API');
  });

  step('ran without CSP violations or script errors', () => {
    assert.deepEqual(cspViolations, []);
    assert.deepEqual(pageErrors, []);
  });
});

