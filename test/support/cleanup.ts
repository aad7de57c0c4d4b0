// Last-resort cleanup: a failing or interrupted test must never leave a registry running
// or temp directories behind, so everything the harness starts is tracked here.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

const processes = new Set<ChildProcess>();
const directories = new Set<string>();
let installed = false;

function cleanupNow(): void {
  for (const child of processes) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  processes.clear();
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
  directories.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Clean up, then re-raise with the default handler so the exit status still says "killed by signal".
    process.once(signal, () => {
      cleanupNow();
      process.kill(process.pid, signal);
    });
  }
}

export function trackProcess(child: ChildProcess): void {
  install();
  processes.add(child);
  child.once('exit', () => processes.delete(child));
}

export function removeOnExit(dir: string): void {
  install();
  directories.add(dir);
}

/** Removes `dir` now and forgets it. */
export function removeNow(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  directories.delete(dir);
}
