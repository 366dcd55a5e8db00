// Measuring: CPU of a process from Linux /proc, load generation at a fixed concurrency, small
// statistics and the machine's description.
//
// Two CPU clocks are read for a pid:
//   - the sum of the first field of /proc/<pid>/task/*/schedstat (the scheduler's on-CPU time
//     per live thread, in nanoseconds): the figures use this one;
//   - utime+stime from /proc/<pid>/stat, in clock ticks (10 ms here), which also counts
//     threads that already exited: kept in the raw numbers as a cross-check.
// The main thread (tid = pid) is read separately: in workerd it runs the JavaScript isolates
// (the worker, miniflare's entry worker, the KV emulation); V8's background compiler / GC
// threads and the I/O threads are the others.

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const SETTLE_MS = 250; // after a batch's last response, before the closing CPU reading

// ---------------------------------------------------------------------------------------------
// /proc

let clkTck = null;
function clockTicksPerSecond() {
  if (clkTck === null) clkTck = Number(sh('getconf', ['CLK_TCK'])) || 100;
  return clkTck;
}

function statFields(pid) {
  const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
  return st.slice(st.lastIndexOf(')') + 2).split(' '); // [0] = field 3 (state)
}

function parentOf(pid) {
  try {
    return Number(statFields(pid)[1]);
  } catch {
    return null;
  }
}

export function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

export function alive(pid) {
  try {
    return statFields(pid)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Every live descendant of pid (children, grandchildren, …). */
export function descendants(pid) {
  const parents = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pp = parentOf(Number(d));
    if (pp !== null) parents.set(Number(d), pp);
  }
  const out = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift();
    for (const [child, parent] of parents) {
      if (parent === p) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

/** Paths this process has open (fd symlink targets), best effort. */
export function openPaths(pid) {
  try {
    return fs
      .readdirSync(`/proc/${pid}/fd`)
      .map((fd) => {
        try {
          return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return '';
        }
      })
      .filter((p) => p.startsWith('/'));
  } catch {
    return [];
  }
}

/** utime+stime of pid in milliseconds (tick resolution). */
function statCpuMs(pid) {
  const f = statFields(pid);
  return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicksPerSecond(); // fields 14 and 15
}

/** Sum of on-CPU time of pid's live threads in milliseconds (ns resolution). */
export function schedCpuMs(pid) {
  let ns = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* thread exited meanwhile */
    }
  }
  return ns / 1e6;
}

/** On-CPU time of the process's main thread only (tid = pid), ms. */
export function mainThreadCpuMs(pid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

/** The three clocks of pid: { all, main, stat } (ms). */
export function cpu(pid) {
  return { all: schedCpuMs(pid), main: mainThreadCpuMs(pid), stat: statCpuMs(pid) };
}

/** Idle CPU rate of pid over `ms`: { all, main } in ms of CPU per ms of wall time. */
export async function idleRate(pid, ms = 2_000) {
  const a = cpu(pid);
  const t0 = performance.now();
  await sleep(ms);
  const b = cpu(pid);
  const wall = performance.now() - t0;
  return { all: (b.all - a.all) / wall, main: (b.main - a.main) / wall };
}

/**
 * Runs `fn` between two CPU readings of pid (the closing one SETTLE_MS after fn resolves, so
 * trailing work is counted) and removes the idle rate over the window.
 * Returns { result, wallMs, cpu: { all, main, stat } } (ms; stat not idle-corrected).
 */
export async function measured(pid, idle, fn) {
  const a = cpu(pid);
  const t0 = performance.now();
  const result = await fn();
  const wallMs = performance.now() - t0;
  await sleep(SETTLE_MS);
  const b = cpu(pid);
  const windowMs = performance.now() - t0;
  return {
    result,
    wallMs,
    cpu: {
      all: b.all - a.all - (idle?.all ?? 0) * windowMs,
      main: b.main - a.main - (idle?.main ?? 0) * windowMs,
      stat: b.stat - a.stat,
    },
  };
}

/** Waits until pid has used < 2 ms of CPU over 1 s (at most 30 s). Returns { settled, cpu }. */
export async function quiet(pid, stopped = () => false) {
  const until = Date.now() + 30_000;
  let prev = schedCpuMs(pid);
  while (Date.now() < until && !stopped()) {
    await sleep(1_000);
    const now = schedCpuMs(pid);
    if (now - prev < 2) return { settled: true, cpu: now };
    prev = now;
  }
  return { settled: false, cpu: prev };
}

// ---------------------------------------------------------------------------------------------
// Load

/**
 * Runs `task(i)` n times with at most c in flight. A task that throws is counted, not fatal:
 * returns { failures, errors } (the first few messages) so the caller can fail loudly after
 * the batch. Stops early (and throws) once `stopped()`.
 */
export async function pool(n, c, task, stopped = () => false) {
  let next = 0;
  const out = { failures: 0, errors: [] };
  const lanes = Array.from({ length: Math.min(c, n) }, async () => {
    while (!stopped()) {
      const i = next;
      next += 1;
      if (i >= n) return;
      try {
        await task(i);
      } catch (e) {
        out.failures += 1;
        if (out.errors.length < 5) out.errors.push(e.message);
      }
    }
  });
  await Promise.all(lanes);
  if (stopped()) throw new Error('interrupted');
  return out;
}

/** Throws when a pool() result has failures. */
export function noFailures(what, r) {
  if (r.failures) throw new Error(`${what}: ${r.failures} failed (first: ${r.errors.join(' | ')})`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values, p) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** { median, min, max, n } */
export function spread(values) {
  const v = values.filter((x) => Number.isFinite(x));
  return { median: median(v), min: v.length ? Math.min(...v) : NaN, max: v.length ? Math.max(...v) : NaN, n: v.length };
}

export function fmt(x, digits = 2) {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

/** "median (min–max)" */
export function fmtSpread(s, digits = 2) {
  if (!s || !Number.isFinite(s.median)) return 'n/a';
  if (s.n <= 1) return fmt(s.median, digits);
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

// ---------------------------------------------------------------------------------------------
// The machine and the build

export function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function machine(repoRoot) {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const pkg = (p) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules', p, 'package.json'), 'utf8')).version;
    } catch {
      return 'unknown';
    }
  };
  return {
    nproc: Number(sh('nproc', [])) || os.cpus().length,
    model: cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? 'unknown',
    memGiB: os.totalmem() / 2 ** 30,
    kernel: os.release(),
    node: process.version,
    wrangler: pkg('wrangler'),
    workerd: pkg('workerd'),
    commit: sh('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']) ?? 'no commit',
    date: new Date().toISOString(),
    loadavgStart: os.loadavg(),
  };
}

/** Raw and gzip -9 size of a wasm file, and the start of its sha256. */
export function wasmSize(wasmPath) {
  const buf = fs.readFileSync(wasmPath);
  return { raw: buf.length, gzip: zlib.gzipSync(buf, { level: 9 }).length, sha256: crypto.createHash('sha256').update(buf).digest('hex').slice(0, 16) };
}
