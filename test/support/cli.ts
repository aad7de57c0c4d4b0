// Runs the built olm-mirror CLI as a user does: a child process with its exit status, stdout and stderr.
// REGISTRY_AUTH_FILE points at an empty credential file unless the caller sets it, so the user's own
// credentials never leak into a test.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeOnExit } from './cleanup.js';
import { repoRoot } from './paths.js';

export interface CliRun { code: number | null; stdout: string; stderr: string }

export interface CliOptions {
  /** Written to the child's standard input (closed either way). */
  stdin?: string;
  cwd?: string;
  /** Added to the environment. */
  env?: Record<string, string>;
}

/** The installed command (package.json's bin), as users run it. */
export const cliPath = join(repoRoot, 'dist', 'src', 'cli', 'olm-mirror.cjs');

let emptyAuthFile: string | undefined;
function noCredentials(): string {
  if (emptyAuthFile === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-cli-auth-'));
    removeOnExit(dir);
    emptyAuthFile = join(dir, 'auth.json');
    writeFileSync(emptyAuthFile, '{"auths":{}}');
  }
  return emptyAuthFile;
}

export function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, REGISTRY_AUTH_FILE: noCredentials(), ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.stdin ?? '');
  });
}
