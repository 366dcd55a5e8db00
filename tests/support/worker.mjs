// Starts and stops the worker under `wrangler dev` for a test file: free ports, fresh test
// secrets in a temp dotenv file, its own KV persistence directory, stdout+stderr captured in
// memory (for log-line and no-secret-in-logs assertions), the whole process group killed on
// stop — and on process exit, so no workerd outlives a failed run.

import { spawn, execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, request } from './http.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WRANGLER = path.join(REPO_ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
/** Where wrangler runs (wrangler.toml, build/): the repo root unless PORTAL_SSO_WORKER_DIR says otherwise. */
const WORKER_DIR = process.env.PORTAL_SSO_WORKER_DIR ? path.resolve(process.env.PORTAL_SSO_WORKER_DIR) : REPO_ROOT;
const execFileP = promisify(execFile);

const live = new Set();
function killAllNow() {
  for (const child of live) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
// A test file that crashes or is interrupted must not leave workerd behind. Installed on
// the first startWorker() only, so importing this module (scripts/dev.mjs does) changes nothing.
let guardsInstalled = false;
function installGuards() {
  if (guardsInstalled) return;
  guardsInstalled = true;
  process.once('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      killAllNow();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** Test secrets in the formats SPEC "Deployment shape" names. */
export function generateSecrets() {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = `handoff-${crypto.randomBytes(6).toString('hex')}`;
  return {
    ADMIN_TOKEN: crypto.randomBytes(32).toString('base64url'),
    CONFIG_KEY: crypto.randomBytes(32).toString('base64'),
    HANDOFF_SIGNING_KEY: JSON.stringify({ kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x, kid }),
  };
}

/** dotenv text; JSON values single-quoted so dotenv keeps their double quotes. */
export function toDotenv(secrets) {
  return `${Object.entries(secrets)
    .map(([k, v]) => (/^[A-Za-z0-9+/=_.:-]*$/.test(v) ? `${k}=${v}` : `${k}='${v}'`))
    .join('\n')}\n`;
}

/**
 * A private copy of the worker for one instance: build/ and wrangler.toml without its
 * [build] section. wrangler then neither rebuilds nor reloads the worker when src/ or build/
 * change during a run (an edit in the checkout would otherwise restart every instance
 * mid-test).
 */
function stageWorker(dir) {
  const app = path.join(dir, 'app');
  fs.mkdirSync(app, { recursive: true });
  fs.cpSync(path.join(WORKER_DIR, 'build'), path.join(app, 'build'), { recursive: true });
  let inBuild = false;
  const toml = fs
    .readFileSync(path.join(WORKER_DIR, 'wrangler.toml'), 'utf8')
    .split('\n')
    .filter((line) => {
      if (/^\s*\[/.test(line)) inBuild = /^\s*\[build\]/.test(line);
      return !inBuild;
    })
    .join('\n');
  fs.writeFileSync(path.join(app, 'wrangler.toml'), toml);
  return app;
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts `wrangler dev` on a free port.
 *   forwardTo: sets FORWARD_TO (forwarder mode).
 *   vars: extra --var KEY:VALUE pairs.
 *   secrets: override generated secrets (e.g. to add *_PREVIOUS).
 *   readyTimeoutMs: how long to wait for GET /healthz → 200 ok.
 *   ready: when the /healthz answer means "up" (an invalid FORWARD_TO answers 503 to all).
 *   persistTo: reuse this KV directory (kept on stop) instead of a fresh one.
 */
export async function startWorker(options = {}) {
  // freePort() releases the port it found before wrangler binds it, so another process (a
  // workerd of a test running alongside, binding port 0) can take it in between: start again
  // on fresh ports when that is why wrangler stopped. Any other failure is thrown at once.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startWorkerOnce(options);
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/.test(e.message)) throw e;
    }
  }
}

async function startWorkerOnce({
  forwardTo,
  vars = {},
  secrets: secretOverrides = {},
  readyTimeoutMs = 90_000,
  name = 'worker',
  ready = (r) => r.status === 200 && r.body.trim() === 'ok',
  persistTo: sharedPersist,
} = {}) {
  installGuards();
  const port = await freePort();
  const inspectorPort = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `portal-sso-${name}-`));
  const secrets = { ...generateSecrets(), ...secretOverrides };
  const envFile = path.join(dir, 'secrets.env');
  fs.writeFileSync(envFile, toDotenv(secrets), { mode: 0o600 });
  // A caller-owned persistence directory outlives this instance (restart with rotated keys).
  const persistTo = sharedPersist ?? path.join(dir, 'state');
  const workDir = stageWorker(dir);

  const allVars = { LOCAL_DEV: 'true', BASE_DOMAIN: 'localhost', ...vars };
  if (forwardTo !== undefined) allVars.FORWARD_TO = forwardTo;
  const args = [
    WRANGLER, 'dev',
    '--port', String(port),
    '--inspector-port', String(inspectorPort),
    '--ip', '127.0.0.1',
    '--persist-to', persistTo,
    '--env-file', envFile,
    '--show-interactive-dev-session=false',
  ];
  for (const [k, v] of Object.entries(allVars)) args.push('--var', `${k}:${v}`);

  const env = { ...process.env, PORTAL_SSO_PREBUILT: '1', CI: '1', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' };
  delete env.CLOUDFLARE_INCLUDE_PROCESS_ENV;
  const child = spawn(process.execPath, args, { cwd: workDir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);

  const chunks = [];
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      live.delete(child);
      resolve(exited);
    });
  });
  child.stdout.on('data', (d) => chunks.push(d.toString('utf8')));
  child.stderr.on('data', (d) => chunks.push(d.toString('utf8')));

  const output = () => chunks.join('');
  const apex = `http://localhost:${port}`;

  const handle = {
    name,
    port,
    apex,
    dir,
    persistTo,
    secrets,
    adminToken: secrets.ADMIN_TOKEN,
    /** Origin of a tenant host, e.g. http://acme.localhost:PORT */
    tenantOrigin: (tenant) => `http://${tenant}.localhost:${port}`,
    /** All captured output so far. */
    output,
    /** Output captured since mark() returned `m`. */
    outputSince: (m) => chunks.slice(m).join(''),
    mark: () => chunks.length,
    /** The worker's structured log lines (JSON objects with `route` and `status`). */
    logLines(since = 0) {
      const out = [];
      for (const line of chunks.slice(since).join('').split('\n')) {
        const t = line.trim();
        const i = t.indexOf('{');
        if (i < 0) continue;
        try {
          const o = JSON.parse(t.slice(i));
          if (o && typeof o === 'object' && !Array.isArray(o) && 'route' in o && 'status' in o) out.push(o);
        } catch {
          /* not a log line */
        }
      }
      return out;
    },
    /** Waits until a log line matching predicate appears (log lines may trail the response). */
    async waitForLog(predicate, { since = 0, timeoutMs = 5_000 } = {}) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = handle.logLines(since).find(predicate);
        if (hit) return hit;
        if (Date.now() > until) throw new Error(`no matching log line within ${timeoutMs} ms; lines: ${JSON.stringify(handle.logLines(since)).slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    /** Admin API call on the apex host. body: object (JSON) or string. */
    async admin(method, pathname, body, { token = secrets.ADMIN_TOKEN, headers = {} } = {}) {
      const h = { accept: 'application/json', ...headers };
      if (token !== null) h.authorization = `Bearer ${token}`;
      const res = await request(`${apex}${pathname}`, { method, body, headers: h });
      let json = null;
      try {
        json = res.body ? JSON.parse(res.body) : null;
      } catch {
        /* not JSON; tests check */
      }
      return { ...res, json };
    },
    /** Reads a raw KV value through the local store (null when absent). */
    async kvGet(key) {
      const { stdout } = await execFileP(process.execPath, [WRANGLER, 'kv', 'key', 'get', key, '--binding', 'KV', '--local', '--persist-to', persistTo, '--text'], {
        cwd: workDir,
        env: { ...env, PORTAL_SSO_PREBUILT: '1' },
        maxBuffer: 16 << 20,
      });
      const v = stdout.replace(/\n$/, '');
      return v === 'Value not found' ? null : v;
    },
    /** Lists raw KV key names with a prefix through the local store. */
    async kvList(prefix = '') {
      const a = [WRANGLER, 'kv', 'key', 'list', '--binding', 'KV', '--local', '--persist-to', persistTo];
      if (prefix) a.push('--prefix', prefix);
      const { stdout } = await execFileP(process.execPath, a, { cwd: workDir, env, maxBuffer: 16 << 20 });
      return JSON.parse(stdout.slice(stdout.indexOf('['))).map((k) => k.name);
    },
    exited: () => exited,
    async stop() {
      if (!exited) {
        killGroup(child, 'SIGTERM');
        const t = setTimeout(() => killGroup(child, 'SIGKILL'), 5_000);
        await exitPromise;
        clearTimeout(t);
      }
      // workerd may still be shutting down in the same group
      killGroup(child, 'SIGKILL');
      // For debugging a run: PORTAL_SSO_TEST_LOG_DIR=dir keeps each instance's output.
      if (process.env.PORTAL_SSO_TEST_LOG_DIR) {
        fs.mkdirSync(process.env.PORTAL_SSO_TEST_LOG_DIR, { recursive: true });
        fs.writeFileSync(path.join(process.env.PORTAL_SSO_TEST_LOG_DIR, `${name}-${port}.log`), output());
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  // Ready when /healthz answers 200 "ok" on the apex.
  const until = Date.now() + readyTimeoutMs;
  let last = 'no answer';
  for (;;) {
    if (exited) {
      await handle.stop();
      throw new Error(`wrangler dev exited (${JSON.stringify(exited)}) before it was ready:\n${output().slice(-4000)}`);
    }
    try {
      const r = await request(`${apex}/healthz`, { timeoutMs: 2_000 });
      if (ready(r)) break;
      last = `${r.status} ${r.body.slice(0, 200)}`;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > until) {
      await handle.stop();
      throw new Error(`wrangler dev not ready after ${readyTimeoutMs} ms (last: ${last}):\n${output().slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return handle;
}

/**
 * A tenant config for tests: an OP handle (op.mjs or a bad-op server) gives okta_domain and
 * authorization_server_id; portal gives portal_url and the webhook URL.
 */
export function tenantConfig({ op, portal, clientId, clientSecret, ...overrides }) {
  const cfg = {
    enabled: true,
    ...op.tenantFields(),
    idp_id: null,
    client_id: clientId,
    client_secret: clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    sign_in_button_label: 'Sign in with Corporate Account',
    provision_new_users: false,
    password_login_disabled: false,
    allow_unverified_email: false,
    portal_url: portal.url,
    handoff_path: '/sso/assertion',
    provisioning_webhook_url: null,
    custom_domains: [],
    redirect_uri: null,
    post_logout_redirect_uri: null,
  };
  return { ...cfg, ...overrides };
}

/** PUT a tenant; asserts nothing. Returns { status, json, webhookSecret }. */
export async function putTenant(worker, id, config) {
  const r = await worker.admin('PUT', `/admin/tenants/${id}`, config);
  return { status: r.status, json: r.json, body: r.body, headers: r.headers, webhookSecret: r.json?.webhook_secret ?? null };
}

/** Every substring of `text` that equals one of `secrets` (values shorter than 6 chars ignored). */
export function leakedSecrets(text, secrets) {
  return [...new Set(secrets.filter((s) => typeof s === 'string' && s.length >= 6 && text.includes(s)))];
}
