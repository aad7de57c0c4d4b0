// What the benchmarks that run olm-mirror share: the synthetic image sets (pushed in parallel), running the
// CLI as a child process with its peak memory, timing with the CPU of the tool and of the registries,
// medians, and the tables.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../test/support/paths.js';
import { startRegistry, type TestRegistry } from '../test/support/registry.js';
import { makeLayer, seedImage } from '../test/support/seed.js';
import { inParallel } from '../src/util/in-parallel.js';

export const MiB = 1024 * 1024;

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

export interface ChildRun { peakRssMiB: number; stderr: string }

export const olmMirrorMain = join(repoRoot, 'dist', 'src', 'cli', 'olm-mirror.cjs');

/**
 * Runs `node ARGS` as a child process, sampling its peak resident memory (VmHWM) every 20 ms until it
 * exits: for a process of a few tens of milliseconds that is a lower bound.
 */
export function runNode(args: string[], authFile: string): Promise<ChildRun> {
  const child = spawn(process.execPath, args, {
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
      if (code !== 0) reject(new Error(`node ${args.join(' ')} exited with ${code}:\n${stderr}`));
      else resolve({ peakRssMiB: peakKiB / 1024, stderr });
    });
  });
}

/** Runs `olm-mirror image mirror --insecure ARGS` as a child process (see runNode). */
export function runOlmMirror(args: string[], authFile: string): Promise<ChildRun> {
  return runNode([olmMirrorMain, 'image', 'mirror', '--insecure', ...args], authFile);
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

/**
 * Wall time, CPU of the tool and CPU of the registries involved. The tool is the children of this process
 * (counted once they exited), or with `inProcess` this process itself (a copier running in the benchmark).
 */
export async function measure<T>(registries: TestRegistry[], work: () => Promise<T>, inProcess = false): Promise<Measured & { result: T }> {
  const toolCpu = () => cpuSeconds(readFileSync('/proc/self/stat', 'utf8'), !inProcess);
  const [tool0, registry0] = [toolCpu(), registriesCpu(registries)];
  const started = process.hrtime.bigint();
  const result = await work();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, toolCpu: toolCpu() - tool0, registryCpu: registriesCpu(registries) - registry0, result };
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The median of each figure over several runs of one way. */
export function medianOf(runs: Measured[]): Measured {
  return {
    seconds: median(runs.map((r) => r.seconds)),
    toolCpu: median(runs.map((r) => r.toolCpu)),
    registryCpu: median(runs.map((r) => r.registryCpu)),
  };
}

/** A synthetic image set: every image `bench/<name>-<i>:v1` with the same shared layers first, then its own. */
export interface ImageSet {
  name: string;
  count: number;
  sharedLayers: Buffer[];
  /** Sizes of each image's own layers (seed.ts: up to 1 MiB tar.gz, above raw bytes). */
  layerSizes: number[];
  /** Every fourth image is a manifest list of these platforms (none: only single images). */
  listPlatforms?: string[];
}

/** Pushes the image set, 8 images at a time (the registry, not the pushing, is the limit); returns the repositories. */
export async function seedImageSet(source: TestRegistry, set: ImageSet): Promise<string[]> {
  const width = String(set.count - 1).length;
  const repositories = Array.from({ length: set.count }, (_, i) => `bench/${set.name}-${String(i).padStart(Math.max(2, width), '0')}`);
  await inParallel([...repositories.entries()], 8, ([i, repository]) => seedImage(source, repository, 'v1', {
    sharedLayers: set.sharedLayers,
    layerSizes: set.layerSizes,
    platforms: set.listPlatforms && i % 4 === 3 ? set.listPlatforms : undefined,
    seed: repository,
  }));
  return repositories;
}

/** N images: two shared base layers, own layers, every fourth one a two-platform manifest list. */
export function seedImages(source: TestRegistry, count: number, layerMiB: number): Promise<string[]> {
  return seedImageSet(source, {
    name: 'app', count,
    sharedLayers: [makeLayer('bench-base-os', 1000 * 1024), makeLayer('bench-base-runtime', 512 * 1024)],
    layerSizes: [layerMiB * MiB + 1, 256 * 1024],
    listPlatforms: ['linux/amd64', 'linux/arm64'],
  });
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
  /** `tmpfs`: the registry's storage in memory (/dev/shm), so that its disk is not what a run measures. */
  startRegistry: (storage?: 'disk' | 'tmpfs') => Promise<TestRegistry>;
}

const TMPFS = '/dev/shm';
const TMPFS_MAGIC = 0x01021994;

async function startTmpfsRegistry(): Promise<TestRegistry> {
  if (statfsSync(TMPFS).type !== TMPFS_MAGIC) throw new Error(`bench: ${TMPFS} is not a tmpfs on this machine`);
  return startRegistry({ parentDir: TMPFS });
}

export async function withBenchEnvironment<T>(work: (env: BenchEnvironment) => Promise<T>): Promise<T> {
  const workDir = mkdtempSync(join(tmpdir(), 'olm-mirror-bench-'));
  // An empty credential file keeps the user's own credentials out of the runs.
  const authFile = join(workDir, 'auth.json');
  writeFileSync(authFile, '{"auths":{}}');
  const registries: TestRegistry[] = [];
  const start = async (storage: 'disk' | 'tmpfs' = 'disk') => {
    const r = storage === 'tmpfs' ? await startTmpfsRegistry() : await startRegistry();
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
