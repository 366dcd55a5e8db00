// Starts the worker under `wrangler dev` for the benchmark and finds the workerd process that
// runs it.
//
// The worker runs from a staging copy (a temp dir holding wrangler.toml without its [build]
// table, and a copy of build/), so that an edit to src/ or a rebuild of build/ while the
// benchmark runs cannot make wrangler rebuild or reload the worker mid-measurement, and every
// run measures the same wasm.
//
// Which workerd: wrangler 4 starts two workerd processes, both children of wrangler's node
// process — one runs wrangler's proxy worker and listens on the --port we give
// (`--socket-addr=entry=127.0.0.1:{port}`); the other runs the user worker together with
// miniflare's entry worker and the local KV / Queue emulation (it listens on a random port
// (`entry=127.0.0.1:0`), carries `--inspector-addr`, and has the KV SQLite files under
// --persist-to open). We take the workerd descendant that is NOT the one bound to our port;
// if there is more than one such process we narrow by the --persist-to files it holds open,
// and fail loudly if that still leaves a choice.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../tests/support/http.mjs';
import { alive, cmdline, descendants, openPaths } from './proc.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WRANGLER = path.join(REPO_ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

/** Every wrangler we started, so exit / signal handlers can kill their process groups. */
const live = new Set();

export function killAllSync() {
  for (const w of live) {
    try {
      process.kill(-w.child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    for (const pid of w.workerdPids ?? []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}
process.once('exit', killAllSync);

/** Secrets in the formats SPEC "Deployment shape" names. */
export function generateSecrets() {
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

/**
 * A temp dir for the whole benchmark: the staged worker (wrangler.toml + build/), the
 * secrets file and one KV persistence dir per run; `buildDir` (default build/) is the built
 * worker copied in. Returns { dir, workerDir, envFile, secrets, wasmPath }.
 */
export function stage(buildDir = path.join(REPO_ROOT, 'build')) {
  if (!fs.existsSync(path.join(buildDir, 'worker', 'shim.mjs')) || !fs.existsSync(path.join(buildDir, 'index_bg.wasm'))) {
    throw new Error(`${buildDir} has no built worker (worker/shim.mjs, index_bg.wasm): build it first (bash scripts/build-worker.sh, or one \`npx wrangler dev\` / \`npx wrangler build\`)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-sso-bench-'));
  const workerDir = path.join(dir, 'worker');
  fs.mkdirSync(workerDir);
  fs.cpSync(buildDir, path.join(workerDir, 'build'), { recursive: true });
  const toml = fs.readFileSync(path.join(REPO_ROOT, 'wrangler.toml'), 'utf8');
  // Drop the [build] table (and only it): the staged build/ is used as is, nothing is watched.
  const lines = toml.split('\n');
  const out = [];
  let inBuild = false;
  for (const line of lines) {
    const header = line.match(/^\s*\[+([^\]]+)\]+\s*(#.*)?$/);
    if (header) inBuild = header[1].trim() === 'build' || header[1].trim().startsWith('build.');
    if (!inBuild) out.push(line);
  }
  fs.writeFileSync(path.join(workerDir, 'wrangler.toml'), out.join('\n'));
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(workerDir, 'node_modules'));
  const secrets = generateSecrets();
  const envFile = path.join(dir, 'secrets.env');
  fs.writeFileSync(envFile, toDotenv(secrets), { mode: 0o600 });
  return { dir, workerDir, envFile, secrets, wasmPath: path.join(workerDir, 'build', 'index_bg.wasm') };
}

/**
 * The first-request floor worker (bench/floor-worker: plain JavaScript, the same KV binding),
 * staged beside `staged` so that it shares its secrets file and is removed with it.
 */
export function stageFloor(staged) {
  const workerDir = path.join(staged.dir, 'floor-worker');
  fs.cpSync(path.join(REPO_ROOT, 'bench', 'floor-worker'), workerDir, { recursive: true });
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(workerDir, 'node_modules'));
  return { dir: staged.dir, workerDir, envFile: staged.envFile, secrets: staged.secrets };
}

export function unstage(staged) {
  if (staged?.dir) fs.rmSync(staged.dir, { recursive: true, force: true });
}

/** The workerd processes under wrangler: { worker, proxy, all }. Throws when ambiguous. */
export function findWorkerd(wranglerPid, port, persistTo) {
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
 * Starts `wrangler dev` on the staged worker. Waits for wrangler's "Ready on" line and for
 * the worker's workerd process to exist — it sends no request to the worker, so the isolate
 * stays untouched (the fresh-isolate measurement relies on that).
 */
export async function startWrangler({ staged, persistTo, readyTimeoutMs = 120_000 }) {
  // freePort() releases the port it found before wrangler binds it, so another process (a
  // workerd binding port 0) can take it in between: start again on fresh ports when that is
  // why wrangler stopped. The handle says which ports it got (`port`, `inspectorPort`).
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const inspectorPort = await freePort();
    try {
      return await startWranglerOnce({ staged, port, inspectorPort, persistTo, readyTimeoutMs });
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/.test(e.message)) throw e;
    }
  }
}

async function startWranglerOnce({ staged, port, inspectorPort, persistTo, readyTimeoutMs }) {
  const args = [
    WRANGLER, 'dev',
    '--port', String(port),
    '--inspector-port', String(inspectorPort),
    '--ip', '127.0.0.1',
    '--persist-to', persistTo,
    '--env-file', staged.envFile,
    '--show-interactive-dev-session=false',
    '--var', 'LOCAL_DEV:true',
    '--var', 'BASE_DOMAIN:localhost',
  ];
  const env = { ...process.env, PORTAL_SSO_PREBUILT: '1', CI: '1', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' };
  delete env.CLOUDFLARE_INCLUDE_PROCESS_ENV;
  const child = spawn(process.execPath, args, { cwd: staged.workerDir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const handle = { child, port, inspectorPort, persistTo, workerdPids: [], pids: null, exited: null };
  live.add(handle);

  // Keep only a tail of the output (every request logs a line; a run makes tens of thousands).
  const tail = [];
  let readySeen = false;
  let partial = '';
  const onData = (d) => {
    const text = partial + d.toString('utf8');
    const lines = text.split('\n');
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
    // workerd should be in wrangler's process group; make sure regardless.
    const until = Date.now() + 5_000;
    for (const pid of handle.workerdPids) {
      while (alive(pid) && Date.now() < until) {
        try {
          process.kill(pid, Date.now() + 2_000 > until ? 'SIGKILL' : 'SIGTERM');
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
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
        handle.pids = findWorkerd(child.pid, port, persistTo);
        handle.workerdPids = handle.pids.all;
        break;
      } catch (e) {
        if (Date.now() > until) throw e;
      }
    }
    if (Date.now() > until) {
      await handle.stop().catch(() => {});
      throw new Error(`wrangler dev not ready after ${readyTimeoutMs} ms:\n${handle.output().slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return handle;
}
