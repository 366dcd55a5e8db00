// Linux /proc readers: process tree, command lines, CPU time of a process.
//
// Two CPU clocks are read for a pid:
//   - utime+stime from /proc/<pid>/stat, in clock ticks (getconf CLK_TCK, 100 here → 10 ms
//     resolution); includes threads that already exited. The throughput figures use this.
//   - the sum of the first field of /proc/<pid>/task/*/schedstat (the scheduler's on-CPU
//     time per live thread, in nanoseconds). Used where 10 ms ticks are too coarse: the idle
//     rate and the first request in a fresh isolate.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let clkTck = null;
export function clockTicksPerSecond() {
  if (clkTck === null) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

function statFields(pid) {
  const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
  return st.slice(st.lastIndexOf(')') + 2).split(' '); // [0] = field 3 (state)
}

export function parentOf(pid) {
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
export function statCpuMs(pid) {
  const f = statFields(pid);
  const ticks = Number(f[11]) + Number(f[12]); // fields 14 and 15
  return (ticks * 1000) / clockTicksPerSecond();
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

/**
 * On-CPU time of the process's main thread only (tid = pid), ms. In workerd that thread runs
 * the JavaScript isolates (the worker, miniflare's entry worker, the KV emulation); V8's
 * background compiler / GC threads and the I/O threads are the others.
 */
export function mainThreadCpuMs(pid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

/** The clocks for each pid: { [pid]: { stat, sched, main } } plus the wall clock. */
export function snapshot(pids) {
  const out = { at: performance.now(), cpu: {} };
  for (const pid of pids) out.cpu[pid] = { stat: statCpuMs(pid), sched: schedCpuMs(pid), main: mainThreadCpuMs(pid) };
  return out;
}

/** Per-pid CPU used between two snapshots: { [pid]: { stat, sched, main } }, wallMs. */
export function diff(before, after) {
  const cpu = {};
  for (const pid of Object.keys(before.cpu)) {
    const a = after.cpu[pid];
    const b = before.cpu[pid];
    cpu[pid] = { stat: a.stat - b.stat, sched: a.sched - b.sched, main: a.main - b.main };
  }
  return { wallMs: after.at - before.at, cpu };
}
