// Temp folders olm-mirror makes: removed when they are done with, and also when the process ends
// before that (an error, process.exit, SIGINT, SIGTERM, SIGHUP), unless kept on purpose.
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  readonly path: string;
  /** Leaves the folder in place for good (it holds something the user was told about). */
  keep(): void;
  remove(): Promise<void>;
}

const live = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function removeAllNow(): void {
  for (const dir of live) rmSync(dir, { recursive: true, force: true });
  live.clear();
  uninstall();
}

function onSignal(signal: NodeJS.Signals): void {
  removeAllNow();
  // Nobody else handles it: re-raise, so the process still ends the way the signal means (and its exit status says so).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

/** Handlers only while temp folders exist: a library user's process keeps its own signal behaviour otherwise. */
function install(): void {
  process.on('exit', removeAllNow);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstall(): void {
  process.off('exit', removeAllNow);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

function forget(dir: string): void {
  if (live.delete(dir) && live.size === 0) uninstall();
}

/** A new folder under the system temp folder, named `<prefix>` and six random characters. */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  if (live.size === 0) install();
  live.add(path);
  return {
    path,
    keep: () => forget(path),
    remove: async () => {
      forget(path);
      await rm(path, { recursive: true, force: true });
    },
  };
}
