// Test harness for the console tests: real certsync processes on loopback in
// a private temporary directory, the same steps as tests/integration/lib.bash
// (hub init + serve, device init + enroll with a token, folder add, agent run).
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import net from 'node:net';
import https from 'node:https';
import os from 'node:os';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const CERTSYNC = process.env.CERTSYNC || path.join(ROOT, 'build', 'certsync');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = process.env.SCREENSHOT_DIR || path.join(ROOT, 'build', 'browser-screenshots');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Run the certsync CLI; resolves with {code, stdout, stderr} (never rejects on exit status).
export async function cs(args, opts = {}) {
  try {
    const { stdout, stderr } = await execFileP(CERTSYNC, args, { timeout: 60000, maxBuffer: 16 << 20, ...opts });
    return { code: 0, stdout, stderr };
  } catch (e) {
    if (typeof e.code !== 'number') throw e;
    return { code: e.code, stdout: e.stdout || '', stderr: e.stderr || '' };
  }
}

// Like cs() but throws unless the exit status is 0; returns trimmed stdout.
export async function csOk(args, opts) {
  const r = await cs(args, opts);
  if (r.code !== 0) throw new Error(`certsync ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

export async function run(cmd, args, opts = {}) {
  const { stdout } = await execFileP(cmd, args, { timeout: 60000, ...opts });
  return stdout;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function waitFor(what, fn, { timeout = 30000, interval = 200 } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

// Files of a tree: relative path -> "type mode size sha256", for comparing trees.
export async function treeSig(dir) {
  const out = new Map();
  async function walk(rel) {
    const entries = await fsp.readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.certsync-tmp-')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      const full = path.join(dir, r);
      const st = await fsp.lstat(full);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.set(r, `d ${mode}`);
        await walk(r);
      } else if (st.isFile()) {
        const h = crypto.createHash('sha256').update(await fsp.readFile(full)).digest('hex');
        out.set(r, `f ${mode} ${st.size} ${h}`);
      } else if (st.isSymbolicLink()) {
        out.set(r, `l ${await fsp.readlink(full)}`);
      }
    }
  }
  await walk('');
  return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function sigText(m) { return [...m.entries()].map(([k, v]) => `${k}\t${v}`).join('\n'); }

// Fill a folder with a few files: text, a nested directory, a binary file.
export async function fillFolder(dir, tag, { binaryKiB = 256 } = {}) {
  await fsp.mkdir(path.join(dir, 'sub', 'deeper'), { recursive: true });
  await fsp.writeFile(path.join(dir, 'readme.txt'), `folder ${tag}\nwritten by the console tests\n`);
  await fsp.writeFile(path.join(dir, 'sub', 'notes.md'), `# ${tag}\n\n- one\n- two\n`);
  await fsp.writeFile(path.join(dir, 'sub', 'deeper', 'data.bin'), crypto.randomBytes(binaryKiB * 1024));
  await fsp.writeFile(path.join(dir, 'empty.txt'), '');
}

export class Cluster {
  constructor(name) {
    this.dir = fs.mkdtempSync(path.join(process.env.CS_TEST_TMP || os.tmpdir(), `browser-${name}-`));
    this.procs = new Map();   // label -> child process
    this.ids = {};            // device name -> device ID
    this.failed = false;
  }

  get hubData() { return path.join(this.dir, 'hub'); }
  get url() { return `https://127.0.0.1:${this.port}`; }
  deviceDir(name) { return path.join(this.dir, name); }
  folderDir(name, folder) { return path.join(this.dir, `${name}-${folder}`); }

  async hubInit() {
    this.port = await freePort();
    const r = await csOk(['hub', 'init', '--data', this.hubData, '--listen', `127.0.0.1:${this.port}`]);
    this.initOutput = r;
    this.password = await this.readPassword(r);
  }

  // The console password: HUB/admin/console-password, else the line of
  // 'hub init' output that names it.
  async readPassword(initOut) {
    const file = path.join(this.hubData, 'admin', 'console-password');
    try {
      const p = (await fsp.readFile(file, 'utf8')).trim();
      if (p) return p;
    } catch (e) { /* not written */ }
    const m = /password[^:\n]*:\s*(\S+)/i.exec(initOut || '');
    return m ? m[1] : null;
  }

  async hubConfig(patch) {
    const f = path.join(this.hubData, 'hub.json');
    const cfg = JSON.parse(await fsp.readFile(f, 'utf8'));
    Object.assign(cfg, patch);
    await fsp.writeFile(f, JSON.stringify(cfg, null, 2) + '\n');
  }

  spawnLogged(label, args) {
    const log = fs.openSync(path.join(this.dir, `${label}.log`), 'a');
    const p = spawn(CERTSYNC, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.procs.set(label, p);
    p.on('exit', () => { if (this.procs.get(label) === p) this.procs.delete(label); });
    return p;
  }

  async kill(label) {
    const p = this.procs.get(label);
    if (!p) return;
    this.procs.delete(label);
    if (p.exitCode !== null || p.signalCode !== null) return;
    await new Promise((resolve) => {
      p.once('exit', resolve);
      p.kill('SIGKILL');
    });
  }

  async hubStart() {
    this.spawnLogged('hub', ['hub', 'serve', '--data', this.hubData, '--log-level', 'info']);
    await waitFor('the hub to answer /healthz', () => this.httpGet('/healthz').then((r) => r.status === 200), { timeout: 20000 });
  }

  async hubStop() { await this.kill('hub'); }

  // A plain HTTPS GET to the hub, verifying its certificate with the hub CA.
  httpGet(p) {
    const ca = fs.readFileSync(path.join(this.hubData, 'ca', 'ca.crt'));
    return new Promise((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port: this.port, path: p, ca, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
  }

  hub(args) { return csOk(['hub', ...args, '--data', this.hubData]); }

  async devices() { return JSON.parse(await this.hub(['device', 'list', '--json'])).devices; }

  async device(name) {
    const id = this.ids[name];
    const norm = (s) => String(s).toUpperCase().replace(/[^A-Z0-9]/g, '');
    return (await this.devices()).find((d) => norm(d.device_id) === norm(id));
  }

  async job(id) { return JSON.parse(await this.hub(['job', 'show', String(id), '--json'])); }

  // init + enroll a device in DIR/NAME.
  async deviceNew(name) {
    const token = await this.hub(['token', 'create']);
    const id = await csOk(['device', 'init', '--data', this.deviceDir(name), '--name', name]);
    await csOk(['device', 'enroll', token, '--data', this.deviceDir(name)]);
    this.ids[name] = id.split('\n').pop().trim();
    return this.ids[name];
  }

  async folderAdd(name, folder) {
    const dir = this.folderDir(name, folder);
    await csOk(['folder', 'add', folder, dir, '--data', this.deviceDir(name)]);
    return dir;
  }

  agentStart(name) {
    return this.spawnLogged(`agent-${name}`, ['agent', 'run', '--data', this.deviceDir(name), '--log-level', 'info']);
  }

  async agentStop(name) { await this.kill(`agent-${name}`); }

  async cleanup() {
    for (const label of [...this.procs.keys()]) await this.kill(label);
    if (!this.failed && !process.env.KEEP) await fsp.rm(this.dir, { recursive: true, force: true });
    else console.log(`# test files kept in ${this.dir}`);
  }
}
