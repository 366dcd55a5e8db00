// The two workers the benchmark runs, each under its own `wrangler dev`: the Rust worker (a
// built copy of build/) and the JavaScript peer (../shared/anchors/js-peer: the same login
// with oauth4webapi). Staging, starting and stopping, finding the workerd process that runs
// each, and one checked login.
//
// Staging: each worker runs from a temp dir (its wrangler.toml without a [build] table, and a
// copy of its code), so an edit to src/ or a rebuild of build/ while the benchmark runs
// cannot make wrangler rebuild or reload it mid-measurement. The peer's one dependency
// (oauth4webapi, pinned by the peer's package-lock.json) is installed once with `npm ci` into
// node_modules/.cache/portal-sso-bench/ and reused (the peer folder is read-only).
//
// Which workerd: wrangler 4 starts two workerd processes, both children of wrangler's node
// process — one runs wrangler's proxy worker and listens on the --port we give
// (`--socket-addr=entry=127.0.0.1:{port}`); the other runs the user worker together with
// miniflare's entry worker and the local KV emulation (random port, `--inspector-addr`, the
// KV SQLite files under --persist-to open). We measure the second: the workerd descendant not
// bound to our port, narrowed by the --persist-to files it holds open if there is a choice.

import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CookieJar, freePort, parseForms, request } from '../../tests/support/http.mjs';
import { alive, cmdline, descendants, openPaths, sleep } from './measure.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_BUILD = path.join(REPO_ROOT, 'build');
export const DEFAULT_PEER = path.resolve(REPO_ROOT, '..', 'shared', 'anchors', 'js-peer');
const WRANGLER = path.join(REPO_ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
export const TENANT = 'acme';

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: every wrangler we started, so exit / signal handlers can stop them.

const live = new Set();
const temps = new Set();

export function killAllSync() {
  for (const w of live) {
    for (const target of [-w.child.pid, ...(w.workerdPids ?? [])]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
}
process.once('exit', killAllSync);

// ---------------------------------------------------------------------------------------------
// Staging

/** Secrets in the formats the README names. */
function generateSecrets() {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    ADMIN_TOKEN: crypto.randomBytes(32).toString('base64url'),
    CONFIG_KEY: crypto.randomBytes(32).toString('base64'),
    HANDOFF_SIGNING_KEY: JSON.stringify({ kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x, kid: `bench-${crypto.randomBytes(4).toString('hex')}` }),
  };
}

function toDotenv(secrets) {
  return `${Object.entries(secrets)
    .map(([k, v]) => (/^[A-Za-z0-9+/=_.:-]*$/.test(v) ? `${k}=${v}` : `${k}='${v}'`))
    .join('\n')}\n`;
}

/** wrangler.toml without its [build] table (and only it); `main` replaced when given. */
function stagedToml(toml, main) {
  const out = [];
  let inBuild = false;
  for (const line of toml.split('\n')) {
    const header = line.match(/^\s*\[+([^\]]+)\]+\s*(#.*)?$/);
    if (header) inBuild = header[1].trim() === 'build' || header[1].trim().startsWith('build.');
    if (inBuild) continue;
    out.push(main && /^main\s*=/.test(line) ? `main = "${main}"` : line);
  }
  return out.join('\n');
}

const tomlMain = (toml) => toml.match(/^main\s*=\s*"([^"]+)"/m)?.[1];
const tomlKvId = (toml) => toml.match(/\[\[kv_namespaces\]\][^[]*?\bid\s*=\s*"([^"]+)"/)?.[1];

function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.add(dir);
  return dir;
}

export function unstage(staged) {
  if (staged?.dir) {
    fs.rmSync(staged.dir, { recursive: true, force: true });
    temps.delete(staged.dir);
  }
}

/**
 * The Rust worker: a copy of `buildDir` and a wrangler.toml in a temp dir, fresh secrets. The
 * wrangler.toml is the one beside `buildDir` when there is one (a worktree of an older commit,
 * whose bindings match its build: `--a /tmp/old/build`), else the repo's. `counting` puts
 * bench/lib/counting-entry.mjs in front of it (the `calls` command).
 */
export function stageWorker(buildDir = DEFAULT_BUILD, { counting = false } = {}) {
  buildDir = path.resolve(buildDir);
  if (!fs.existsSync(path.join(buildDir, 'index.js')) || !fs.existsSync(path.join(buildDir, 'index_bg.wasm'))) {
    throw new Error(`${buildDir} has no built worker (index.js, index_bg.wasm): build it first (bash scripts/build-worker.sh), or pass --build DIR`);
  }
  const dir = tempDir('portal-sso-bench-');
  const workerDir = path.join(dir, 'worker');
  fs.mkdirSync(workerDir);
  fs.cpSync(buildDir, path.join(workerDir, 'build'), { recursive: true });
  const beside = path.join(buildDir, '..', 'wrangler.toml');
  const toml = fs.readFileSync(fs.existsSync(beside) ? beside : path.join(REPO_ROOT, 'wrangler.toml'), 'utf8');
  fs.writeFileSync(path.join(workerDir, 'wrangler.toml'), stagedToml(toml, counting ? countingEntry(workerDir, 'build/index.js') : null));
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(workerDir, 'node_modules'));
  const secrets = generateSecrets();
  const envFile = path.join(dir, 'secrets.env');
  fs.writeFileSync(envFile, toDotenv(secrets), { mode: 0o600 });
  const key = JSON.parse(secrets.HANDOFF_SIGNING_KEY);
  return {
    kind: 'worker',
    source: buildDir,
    dir,
    workerDir,
    envFile,
    secrets,
    kvNamespace: tomlKvId(toml),
    wasmPath: path.join(workerDir, 'build', 'index_bg.wasm'),
    handoffKey: { kid: key.kid, publicKey: crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.x }, format: 'jwk' }) },
  };
}

/** oauth4webapi for the peer, installed once from its lockfile; returns the node_modules dir. */
function peerModules(peerDir) {
  const files = ['package.json', 'package-lock.json'].filter((f) => fs.existsSync(path.join(peerDir, f)));
  const hash = crypto.createHash('sha256');
  for (const f of files) hash.update(fs.readFileSync(path.join(peerDir, f)));
  const dir = path.join(REPO_ROOT, 'node_modules', '.cache', 'portal-sso-bench', `js-peer-${hash.digest('hex').slice(0, 12)}`);
  const pkg = JSON.parse(fs.readFileSync(path.join(peerDir, 'package.json'), 'utf8'));
  const deps = Object.keys(pkg.dependencies ?? {});
  if (!deps.every((d) => fs.existsSync(path.join(dir, 'node_modules', d, 'package.json')))) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    for (const f of files) fs.copyFileSync(path.join(peerDir, f), path.join(dir, f));
    const cmd = files.includes('package-lock.json') ? 'ci' : 'install';
    console.error(`installing the peer's dependencies (npm ${cmd}: ${deps.join(', ')}) into ${path.relative(REPO_ROOT, dir)}`);
    execFileSync('npm', [cmd, '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  }
  return path.join(dir, 'node_modules');
}

/** The JavaScript peer: its worker.js, handoff-key.json and wrangler.toml in a temp dir. */
export function stagePeer(peerDir = DEFAULT_PEER, { counting = false } = {}) {
  peerDir = path.resolve(peerDir);
  if (!fs.existsSync(path.join(peerDir, 'worker.js'))) throw new Error(`${peerDir} has no worker.js (the JavaScript peer; pass --peer DIR)`);
  const modules = peerModules(peerDir);
  const dir = tempDir('portal-sso-bench-peer-');
  const workerDir = path.join(dir, 'worker');
  fs.mkdirSync(workerDir);
  for (const f of fs.readdirSync(peerDir)) {
    if (f === 'node_modules' || f === '.wrangler' || f.startsWith('.')) continue;
    fs.cpSync(path.join(peerDir, f), path.join(workerDir, f), { recursive: true });
  }
  const toml = fs.readFileSync(path.join(peerDir, 'wrangler.toml'), 'utf8');
  fs.writeFileSync(path.join(workerDir, 'wrangler.toml'), stagedToml(toml, counting ? countingEntry(workerDir, tomlMain(toml)) : null));
  fs.symlinkSync(modules, path.join(workerDir, 'node_modules'));
  const fx = JSON.parse(fs.readFileSync(path.join(peerDir, 'handoff-key.json'), 'utf8')).ed25519_private_jwk;
  return {
    kind: 'peer',
    source: peerDir,
    dir,
    workerDir,
    envFile: null,
    kvNamespace: tomlKvId(toml),
    handoffKey: { kid: fx.kid, publicKey: crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: fx.x }, format: 'jwk' }) },
  };
}

/** Writes the counting entry beside `main` (a path relative to workerDir); returns its name. */
function countingEntry(workerDir, main) {
  const src = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'counting-entry.mjs'), 'utf8');
  fs.writeFileSync(path.join(workerDir, 'bench-counting-entry.mjs'), src.replaceAll('./WORKER_MAIN', `./${main}`));
  return 'bench-counting-entry.mjs';
}

// ---------------------------------------------------------------------------------------------
// wrangler dev

/** The workerd processes under wrangler: { worker, proxy, all }. Throws when ambiguous. */
function findWorkerd(wranglerPid, port, persistTo) {
  const all = descendants(wranglerPid).filter((pid) => {
    const c = cmdline(pid);
    return c && c.length && path.basename(c[0]) === 'workerd' && alive(pid);
  });
  const boundToPort = (pid) => cmdline(pid).some((a) => a === `--socket-addr=entry=127.0.0.1:${port}`);
  const proxy = all.filter(boundToPort);
  let candidates = all.filter((pid) => !boundToPort(pid));
  if (candidates.length > 1) {
    const holding = candidates.filter((pid) => openPaths(pid).some((p) => p.startsWith(persistTo)));
    if (holding.length) candidates = holding;
  }
  if (candidates.length !== 1) {
    const describe = all.map((pid) => `${pid}: ${cmdline(pid).join(' ')}`).join('\n  ');
    throw new Error(`cannot tell which workerd runs the worker (${candidates.length} candidates):\n  ${describe}`);
  }
  return { worker: candidates[0], proxy: proxy[0] ?? null, all };
}

/**
 * Starts `wrangler dev` on a staged worker with `vars` (--var NAME:VALUE). Waits for
 * wrangler's "Ready on" line and for the worker's workerd process to exist; sends no request
 * to the worker, so its isolate stays untouched (the first-request figures rely on that).
 * Returns { child, port, inspectorPort, pid (the measured workerd), proxyPid, workerdPids, stop() }.
 */
export async function startWrangler({ staged, persistTo, vars = {}, readyTimeoutMs = 120_000 }) {
  // freePort() releases the port before wrangler binds it, so another process can take it in
  // between: start again on fresh ports when that is why wrangler stopped.
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const inspectorPort = await freePort();
    try {
      return await startWranglerOnce({ staged, port, inspectorPort, persistTo, vars, readyTimeoutMs });
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/.test(e.message)) throw e;
    }
  }
}

async function startWranglerOnce({ staged, port, inspectorPort, persistTo, vars, readyTimeoutMs }) {
  const args = [WRANGLER, 'dev', '--port', String(port), '--inspector-port', String(inspectorPort), '--ip', '127.0.0.1', '--persist-to', persistTo, '--show-interactive-dev-session=false'];
  if (staged.envFile) args.push('--env-file', staged.envFile);
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
  const env = { ...process.env, PORTAL_SSO_PREBUILT: '1', CI: '1', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' };
  delete env.CLOUDFLARE_INCLUDE_PROCESS_ENV;
  const child = spawn(process.execPath, args, { cwd: staged.workerDir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const handle = { child, port, inspectorPort, persistTo, workerdPids: [], pid: null, proxyPid: null, exited: null };
  live.add(handle);

  // Keep only a tail of the output (every request logs a line).
  const tail = [];
  let readySeen = false;
  let partial = '';
  const onData = (d) => {
    const lines = (partial + d.toString('utf8')).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      if (/Ready on http/.test(line)) readySeen = true;
      tail.push(line);
      if (tail.length > 300) tail.shift();
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      handle.exited = { code, signal };
      resolve(handle.exited);
    });
  });
  handle.output = () => [...tail, partial].join('\n');

  handle.stop = async () => {
    if (!handle.exited) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 5_000);
      await exitPromise;
      clearTimeout(t);
    }
    try {
      process.kill(-child.pid, 'SIGKILL'); // anything left in the group
    } catch {
      /* gone */
    }
    const until = Date.now() + 5_000;
    for (const pid of handle.workerdPids) {
      while (alive(pid) && Date.now() < until) {
        try {
          process.kill(pid, Date.now() + 2_000 > until ? 'SIGKILL' : 'SIGTERM');
        } catch {
          break;
        }
        await sleep(100);
      }
    }
    live.delete(handle);
    const survivors = handle.workerdPids.filter(alive);
    if (survivors.length) throw new Error(`workerd still running after stop: ${survivors.join(', ')}`);
  };

  const until = Date.now() + readyTimeoutMs;
  for (;;) {
    if (handle.exited) {
      live.delete(handle);
      throw new Error(`wrangler dev exited (${JSON.stringify(handle.exited)}) before it was ready:\n${handle.output().slice(-4000)}`);
    }
    if (readySeen) {
      try {
        const pids = findWorkerd(child.pid, port, persistTo);
        Object.assign(handle, { pid: pids.worker, proxyPid: pids.proxy, workerdPids: pids.all });
        break;
      } catch (e) {
        if (Date.now() > until) throw e;
      }
    }
    if (Date.now() > until) {
      await handle.stop().catch(() => {});
      throw new Error(`wrangler dev not ready after ${readyTimeoutMs} ms:\n${handle.output().slice(-4000)}`);
    }
    await sleep(100);
  }
  return handle;
}

// ---------------------------------------------------------------------------------------------
// A running target: either worker, with its tenant (the Rust worker) and its login

/** The admin PUT body of the benchmark's tenant: on the stub `op`, for `client`, no provisioning. */
function tenantBody(op, client) {
  return {
    enabled: true, ...op.tenantFields(), idp_id: null, client_id: client.client_id, client_secret: client.client_secret,
    token_endpoint_auth_method: 'client_secret_basic', provision_new_users: false, password_login_disabled: false,
    allow_unverified_email: false, portal_url: op.origin, handoff_path: '/sso/assertion',
    provisioning_webhook_url: null, custom_domains: [], redirect_uri: null, post_logout_redirect_uri: null,
  };
}

/** What each kind is started with: the Rust worker's vars, the peer's (pointing at the stub). */
function varsFor(staged, op, client) {
  if (staged.kind === 'worker') return { LOCAL_DEV: 'true', BASE_DOMAIN: 'localhost', LOGIN_RATE_LIMIT_OFF: 'true' };
  return { ISSUER: op.issuer, CLIENT_ID: client.client_id, CLIENT_SECRET: client.client_secret, PORTAL_URL: op.origin, HANDOFF_PATH: '/sso/assertion', LOCAL_DEV: 'true' };
}

async function waitHealthy(apex, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const r = await request(`${apex}/healthz`, { timeoutMs: 5_000 });
      if (r.status === 200) return;
      last = `${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(200);
  }
  throw new Error(`${apex}/healthz not 200 after ${timeoutMs} ms (${last})`);
}

/**
 * Starts `staged` under `wrangler dev` on `persistTo`, against the stub `op`. With `setup`
 * (the default) it waits for /healthz and, for the Rust worker, creates the tenant through
 * the admin API — which touches the isolate; `setup: false` leaves the isolate fresh (the
 * KV state under `persistTo` must already hold the tenant).
 * Returns { name, staged, w, pid, apex, origin, login }.
 */
export async function startTarget(name, staged, { op, client, persistTo, setup = true }) {
  const w = await startWrangler({ staged, persistTo, vars: varsFor(staged, op, client) });
  const t = { name, staged, w, pid: w.pid, apex: `http://localhost:${w.port}`, origin: `http://${TENANT}.localhost:${w.port}` };
  t.login = () => login(t, op);
  if (!setup) return t;
  try {
    await waitHealthy(t.apex);
    if (staged.kind === 'worker') {
      const put = await request(`${t.apex}/admin/tenants/${TENANT}`, { method: 'PUT', body: tenantBody(op, client), headers: { authorization: `Bearer ${staged.secrets.ADMIN_TOKEN}`, accept: 'application/json' } });
      if (put.status !== 201) throw new Error(`${name}: PUT /admin/tenants/${TENANT} → ${put.status} ${put.body.slice(0, 300)}`);
    }
  } catch (e) {
    await w.stop().catch(() => {});
    throw e;
  }
  return t;
}

/**
 * `request()` with the step named in its error. A keep-alive connection the server closed
 * just as it was reused fails with ECONNRESET / "socket hang up" before the request reached
 * the server: that is retried once, as browsers do, and counted in `retries`.
 */
export const retries = { count: 0, last: null };
async function step(what, url, opts) {
  try {
    return await request(url, opts);
  } catch (e) {
    if (!/socket hang up|ECONNRESET/.test(e.message)) throw new Error(`${what}: ${e.message}`);
    retries.count += 1;
    retries.last = `${what}: ${e.message}`;
    try {
      return await request(url, opts);
    } catch (e2) {
      throw new Error(`${what}: ${e2.message} (and before the retry: ${e.message})`);
    }
  }
}

function fail(what, res) {
  const body = (res?.body ?? '').replace(/\s+/g, ' ').slice(0, 300);
  return new Error(`${what}: ${res ? `${res.method} ${res.url} → ${res.status}${res.location ? ` (${res.location})` : ''} ${body}` : 'no response'}`);
}

/**
 * One complete login, checked as a browser and the portal would: /login/sso → the stub's
 * authorize → the callback → a 200 handoff page whose form POSTs an `assertion` to the
 * portal, the assertion an EdDSA JWT signed by the target's handoff key, for this tenant,
 * member and portal. `measure(send)` may wrap the target's two requests (first-request CPU).
 * Returns { sso, callback, total } latencies (ms), plus what `measure` returned for each.
 */
export async function login(t, op, measure = async (send) => ({ res: await send() })) {
  const jar = new CookieJar();
  const t0 = performance.now();
  const sso = await measure(() => step(`${t.name}: /login/sso`, `${t.origin}/login/sso`, { jar }));
  const t1 = performance.now();
  const start = sso.res;
  if (start.status !== 302 || !start.location?.startsWith(`${op.issuer}/v1/authorize?`)) throw fail(`${t.name}: /login/sso did not redirect to the stub`, start);
  if (!jar.header(`${t.origin}/authorization-code/callback`)) throw fail(`${t.name}: /login/sso set no cookie for the callback`, start);
  const authz = await step(`${t.name}: stub authorize`, start.location);
  if (authz.status !== 302 || !authz.location) throw fail(`${t.name}: stub authorize`, authz);
  const cbUrl = new URL(authz.location);
  if (cbUrl.origin !== t.origin || cbUrl.pathname !== '/authorization-code/callback') throw fail(`${t.name}: the stub redirected elsewhere`, authz);
  const t2 = performance.now();
  const cbm = await measure(() => step(`${t.name}: callback`, cbUrl.href, { jar }));
  const t3 = performance.now();
  const cb = cbm.res;
  if (cb.status !== 200) throw fail(`${t.name}: callback`, cb);
  const form = parseForms(cb.body, cb.url).find((f) => f.method === 'POST' && f.fields.has('assertion'));
  if (!form || form.action !== `${op.origin}/sso/assertion`) throw fail(`${t.name}: the callback page has no handoff form to the portal`, cb);
  const [h, p, s] = form.fields.get('assertion').split('.');
  let header;
  let claims;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  } catch {
    throw fail(`${t.name}: the assertion is not a JWT`, cb);
  }
  const key = t.staged.handoffKey;
  if (header.alg !== 'EdDSA' || header.kid !== key.kid || !crypto.verify(null, Buffer.from(`${h}.${p}`), key.publicKey, Buffer.from(s ?? '', 'base64url'))) {
    throw fail(`${t.name}: the assertion's signature does not verify with the handoff key (header ${JSON.stringify(header)})`, cb);
  }
  const now = Date.now() / 1000;
  if (claims.tenant !== TENANT || claims.email !== op.member.email || claims.sub !== op.member.sub || claims.aud !== op.origin || !(claims.exp > now)) {
    throw fail(`${t.name}: unexpected assertion claims ${JSON.stringify(claims)}`, cb);
  }
  return { sso: t1 - t0, callback: t3 - t2, total: t3 - t0, ssoMeasure: sso, callbackMeasure: cbm };
}

/**
 * Warms the dev harness without touching the worker's isolate: KV put, get (hit and miss)
 * and delete through miniflare's local explorer (`/cdn-cgi/explorer/api/...`, served by
 * miniflare's own workers), so wrangler's proxy, the entry worker and the JavaScript KV
 * emulation are past their first use before the worker's first request.
 */
export async function warmHarness(t, rounds = 5) {
  const base = `${t.apex}/cdn-cgi/explorer/api/storage/kv/namespaces/${t.staged.kvNamespace}/values`;
  for (let i = 0; i < rounds; i += 1) {
    const put = await request(`${base}/bench-warm-${i}`, { method: 'PUT', body: 'warm', headers: { 'content-type': 'text/plain' } });
    const hit = await request(`${base}/bench-warm-${i}`);
    const miss = await request(`${base}/bench-warm-miss-${i}`);
    const del = await request(`${base}/bench-warm-${i}`, { method: 'DELETE' });
    if (put.status !== 200 || hit.status !== 200 || miss.status !== 404 || del.status >= 300) {
      throw new Error(`${t.name}: local explorer warm-up failed (put ${put.status}, hit ${hit.status}, miss ${miss.status}, delete ${del.status}): ${put.body.slice(0, 200)}`);
    }
  }
}
