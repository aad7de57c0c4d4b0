// What the benchmarks that run olm-mirror share: the synthetic image set, running the CLI as a child
// process with its peak memory, timing with the CPU of the tool and of the registries, and the tables.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../test/support/paths.js';
import { startRegistry, type TestRegistry } from '../test/support/registry.js';
import { makeLayer, seedImage } from '../test/support/seed.js';

export const MiB = 1024 * 1024;

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

export interface ChildRun { peakRssMiB: number; stderr: string }

/** Runs the olm-mirror CLI as a child process, polling its peak resident memory (VmHWM) until it exits. */
export function runOlmMirror(args: string[], authFile: string): Promise<ChildRun> {
  const main = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [main, 'image', 'mirror', '--insecure', ...args], {
    env: { ...process.env, REGISTRY_AUTH_FILE: authFile }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let peakKiB = 0;
  const poll = setInterval(() => {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (hwm) peakKiB = Math.max(peakKiB, Number(hwm[1]));
    } catch {
      // the process just exited
    }
  }, 20);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      if (code !== 0) reject(new Error(`olm-mirror ${args.join(' ')} exited with ${code}:\n${stderr}`));
      else resolve({ peakRssMiB: peakKiB / 1024, stderr });
    });
  });
}

/** Linux reports CPU times in clock ticks, 100 per second on every common kernel configuration. */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) from a /proc/<pid>/stat line; `children` for the waited-for children's share. */
function cpuSeconds(stat: string, children = false): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state) of proc(5)
  const [user, system] = children ? [fields[13], fields[14]] : [fields[11], fields[12]];
  return (Number(user) + Number(system)) / CLOCK_TICKS;
}

/** CPU seconds used so far by the registry processes serving these storage folders. */
function registriesCpu(registries: TestRegistry[]): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      // The harness starts each registry as `docker-registry serve <its temp dir>/config.yml`.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (registries.some((r) => cmdline.includes(`${dirname(r.storageDir)}/config.yml`))) total += cpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

export interface Measured { seconds: number; toolCpu: number; registryCpu: number }

/** Wall time, CPU of the tool's processes (children of this one, once they exited) and CPU of the registries involved. */
export async function measure<T>(registries: TestRegistry[], work: () => Promise<T>): Promise<Measured & { result: T }> {
  const childrenCpu = () => cpuSeconds(readFileSync('/proc/self/stat', 'utf8'), true);
  const [tool0, registry0] = [childrenCpu(), registriesCpu(registries)];
  const started = process.hrtime.bigint();
  const result = await work();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, toolCpu: childrenCpu() - tool0, registryCpu: registriesCpu(registries) - registry0, result };
}

/** N images: two shared base layers, own layers, every fourth one a two-platform manifest list. */
export async function seedImages(source: TestRegistry, count: number, layerMiB: number): Promise<string[]> {
  const bases = [makeLayer('bench-base-os', 1000 * 1024), makeLayer('bench-base-runtime', 512 * 1024)];
  const repositories: string[] = [];
  for (let i = 0; i < count; i++) {
    const repository = `bench/app-${String(i).padStart(2, '0')}`;
    await seedImage(source, repository, 'v1', {
      sharedLayers: bases,
      layerSizes: [layerMiB * MiB + 1, 256 * 1024],
      platforms: i % 4 === 3 ? ['linux/amd64', 'linux/arm64'] : undefined,
      seed: repository,
    });
    repositories.push(repository);
  }
  return repositories;
}

export function writeMapping(dir: string, source: TestRegistry, target: TestRegistry, repositories: string[]): string {
  const file = join(dir, 'mapping.txt');
  writeFileSync(file, repositories.map((r) => `${source.host}/${r}:v1=${target.host}/${r}:v1\n`).join(''));
  return file;
}

export const fmt = (seconds: number) => `${seconds.toFixed(2)} s`;
export const cpu = (m: Measured) => `${m.toolCpu.toFixed(2)} + ${m.registryCpu.toFixed(2)} s`;
export const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
export const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

/** Where a benchmark works: a temp folder, an empty credential file, registries started on demand and all stopped at the end. */
export interface BenchEnvironment {
  workDir: string;
  authFile: string;
  startRegistry: () => Promise<TestRegistry>;
}

export async function withBenchEnvironment<T>(work: (env: BenchEnvironment) => Promise<T>): Promise<T> {
  const workDir = mkdtempSync(join(tmpdir(), 'olm-mirror-bench-'));
  // An empty credential file keeps the user's own credentials out of the runs.
  const authFile = join(workDir, 'auth.json');
  writeFileSync(authFile, '{"auths":{}}');
  const registries: TestRegistry[] = [];
  const start = async () => {
    const r = await startRegistry();
    registries.push(r);
    return r;
  };
  try {
    return await work({ workDir, authFile, startRegistry: start });
  } finally {
    await Promise.all(registries.map((r) => r.stop()));
    rmSync(workDir, { recursive: true, force: true });
  }
}
