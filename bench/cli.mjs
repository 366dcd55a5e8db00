// Command-line helpers the benchmark scripts share.

import { killAllSync } from './wrangler.mjs';

/** `opt('--name', default)`: the value after `--name` in `args`, or the default. */
export function options(args = process.argv.slice(2)) {
  return (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
}

/** `exit` handlers do not run on a signal's default action: stop the wrangler process groups here. */
export function stopWranglersOnSignal() {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      killAllSync();
      process.exit(130);
    });
  }
}

/** Runs the script's `main`; on failure prints why, stops every wrangler and exits 1. */
export function runMain(main) {
  main().catch((e) => {
    console.error(e.stack ?? e.message);
    killAllSync();
    process.exit(1);
  });
}
