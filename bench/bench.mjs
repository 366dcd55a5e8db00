#!/usr/bin/env node
// The benchmark: node bench/bench.mjs <command> [options]   (bench/README.md)
//
//   run      the Rust worker against the JavaScript peer, side by side, taking turns
//   ab       two builds of the worker side by side, taking turns
//   calls    the runtime calls each worker makes per login (counted, not timed)
//   profile  a V8 CPU profile of one worker's warm logins
//
// It never builds (pass --build DIR, default build/) and never runs in the test command.
// Everything listens on 127.0.0.1; every wrangler / workerd it starts is stopped at the end,
// on error and on Ctrl-C.

import path from 'node:path';
import { DEFAULT_BUILD, DEFAULT_PEER, killAllSync, REPO_ROOT } from './lib/workers.mjs';

const COMMANDS = {
  run: {
    about: 'the worker and the JavaScript peer, alternating rounds; first requests of fresh isolates; wasm size',
    load: () => import('./commands/run.mjs'),
    options: {
      build: ['DIR', 'build/', 'the built worker (a copy of build/ from bash scripts/build-worker.sh)'],
      peer: ['DIR', '../shared/anchors/js-peer', 'the JavaScript peer (worker.js, wrangler.toml, package.json)'],
      rounds: ['N', 6, 'rounds; each runs --logins on the worker, then on the peer (the order alternating)'],
      logins: ['K', 500, 'logins per worker per round'],
      concurrency: ['C', 8, 'logins in flight'],
      warmup: ['W', null, 'unmeasured logins per worker first (default max(4·C, K/10))'],
      starts: ['S', 5, 'fresh-isolate starts per worker, taking turns; 0 skips the first-request figures'],
      out: ['FILE', 'bench/results/latest.md', 'the Markdown table (the raw numbers go beside it as .json)'],
    },
  },
  ab: {
    about: 'two builds of the worker, alternating rounds: the paired difference B − A',
    load: () => import('./commands/ab.mjs'),
    options: {
      a: ['DIR', null, 'build A (required)'],
      b: ['DIR', null, 'build B (required)'],
      rounds: ['N', 12, 'rounds; each runs --logins on A, then on B (the order alternating)'],
      logins: ['K', 200, 'logins per build per round'],
      concurrency: ['C', 8, 'logins in flight'],
      warmup: ['W', null, 'unmeasured logins per build first (default max(4·C, K/10))'],
    },
  },
  calls: {
    about: 'KV operations, subrequests, WebCrypto and other runtime calls per login, of each worker',
    load: () => import('./commands/calls.mjs'),
    options: {
      build: ['DIR', 'build/', 'the built worker'],
      peer: ['DIR', '../shared/anchors/js-peer', 'the JavaScript peer'],
      logins: ['K', 50, 'counted logins per worker (after 20 unmeasured)'],
    },
  },
  profile: {
    about: "a V8 CPU profile of warm logins through wrangler's inspector: self time by category and function",
    load: () => import('./commands/profile.mjs'),
    options: {
      build: ['DIR', 'build/', 'the built worker (PORTAL_SSO_WASM_NAMES=1 keeps the Rust names)'],
      peer: ['DIR', '../shared/anchors/js-peer', 'the JavaScript peer'],
      target: ['worker|peer', 'worker', 'which one to profile'],
      logins: ['K', 400, 'profiled logins (after as many unprofiled)'],
      concurrency: ['C', 8, 'logins in flight'],
      'interval-us': ['US', 50, 'sampling interval'],
      top: ['N', 40, 'functions listed'],
      out: ['FILE', null, 'also write the .cpuprofile (opens in Chrome DevTools)'],
    },
  },
};

function usage() {
  const lines = ['usage: node bench/bench.mjs <command> [options]', ''];
  for (const [name, c] of Object.entries(COMMANDS)) {
    lines.push(`  ${name.padEnd(8)} ${c.about}`);
    for (const [o, [arg, dflt, about]] of Object.entries(c.options)) {
      lines.push(`      --${`${o} ${arg}`.padEnd(26)} ${about}${dflt === null ? '' : ` [${dflt}]`}`);
    }
  }
  lines.push('', 'Details: bench/README.md');
  return lines.join('\n');
}

class UsageError extends Error {}

function parse(command, argv) {
  const spec = COMMANDS[command].options;
  const o = {};
  for (const [k, [, dflt]] of Object.entries(spec)) o[k] = dflt;
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log(usage());
      process.exit(0);
    }
    const name = a.replace(/^--/, '');
    if (!a.startsWith('--') || !(name in spec)) throw new UsageError(`${command}: unknown option ${a} (try --help)`);
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`${command}: ${a} needs a value`);
    if (typeof spec[name][1] === 'number' || name === 'warmup') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || (n === 0 && name !== 'starts')) throw new UsageError(`${command}: ${a} needs a ${name === 'starts' ? 'non-negative' : 'positive'} integer`);
      o[name] = n;
    } else o[name] = v;
  }
  if (command === 'ab' && (!o.a || !o.b)) throw new UsageError('ab: --a DIR and --b DIR are required (try --help)');
  if (command === 'profile' && !['worker', 'peer'].includes(o.target)) throw new UsageError('profile: --target is worker or peer');
  // Paths given on the command line are relative to the current directory; defaults to the repo.
  const given = (k) => o[k] !== spec[k][1];
  for (const k of ['a', 'b', 'out']) if (o[k]) o[k] = given(k) ? path.resolve(o[k]) : path.resolve(REPO_ROOT, o[k]);
  if ('build' in o) o.build = given('build') ? path.resolve(o.build) : DEFAULT_BUILD;
  if ('peer' in o) o.peer = given('peer') ? path.resolve(o.peer) : DEFAULT_PEER;
  return o;
}

// Cleanup on exit, error and signals: commands register what to undo, newest first.
const cleanups = [];
let stopping = false;
async function cleanupAll() {
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch (e) {
      console.error(`cleanup: ${e.message}`);
    }
  }
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (stopping) {
      killAllSync();
      process.exit(130);
    }
    stopping = true;
    console.error(`\n${sig}: stopping…`);
    cleanupAll().finally(() => {
      killAllSync();
      process.exit(130);
    });
  });
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(usage());
    process.exit(command ? 0 : 2);
  }
  if (!COMMANDS[command]) throw new UsageError(`unknown command ${command}\n\n${usage()}`);
  const opts = parse(command, rest);
  const mod = await COMMANDS[command].load();
  await mod.default(opts, { onCleanup: (fn) => cleanups.push(fn), stopped: () => stopping, log: (...a) => console.error(...a) });
  await cleanupAll();
}

main().catch(async (e) => {
  if (e instanceof UsageError) console.error(`bench: ${e.message}`);
  else if (!stopping) console.error(`\nbench: ${e.stack ?? e.message}`);
  await cleanupAll();
  killAllSync();
  process.exit(stopping ? 130 : 1);
});
