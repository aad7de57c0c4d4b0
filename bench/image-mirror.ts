// Benchmark for `olm-mirror image mirror` against the usual alternative, a loop of `skopeo copy --all`,
// and against the floor for moving the same bytes (cp -r of the source registry's storage).
// Each tool mirrors into a fresh registry of its own, so every first run is a real first run, then runs
// again on its filled target. A last run copies one 1 GiB single-layer image and records olm-mirror's
// peak resident memory (VmHWM of the child process), which must not grow with the blob size.
//
// Environment: OLM_MIRROR_BENCH_IMAGES (image counts to compare, default 24,96), OLM_MIRROR_BENCH_LAYER_MIB (own layer size of each
// image, default 2), OLM_MIRROR_BENCH_BIG_MIB (the big image, default 1024; 0 skips that part).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../test/support/paths.js';
import { startRegistry, type TestRegistry } from '../test/support/registry.js';
import { makeLayer, seedImage } from '../test/support/seed.js';
import { skopeoCopyAll } from '../test/support/skopeo.js';

const MiB = 1024 * 1024;
const TARGETS = { firstSpeedup: 2, rerunSpeedup: 5, peakRssMiB: 200 };

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

interface ChildRun { peakRssMiB: number; stderr: string }

/** Runs the olm-mirror CLI as a child process, polling its peak resident memory (VmHWM) until it exits. */
function runOlmMirror(args: string[], authFile: string): Promise<ChildRun> {
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

interface Measured { seconds: number; toolCpu: number; registryCpu: number }

/** Wall time, CPU of the tool's processes (children of this one, once they exited) and CPU of the registries involved. */
async function measure<T>(registries: TestRegistry[], work: () => Promise<T>): Promise<Measured & { result: T }> {
  const childrenCpu = () => cpuSeconds(readFileSync('/proc/self/stat', 'utf8'), true);
  const [tool0, registry0] = [childrenCpu(), registriesCpu(registries)];
  const started = process.hrtime.bigint();
  const result = await work();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, toolCpu: childrenCpu() - tool0, registryCpu: registriesCpu(registries) - registry0, result };
}

/** N images: two shared base layers, own layers, every fourth one a two-platform manifest list. */
async function seedImages(source: TestRegistry, count: number, layerMiB: number): Promise<string[]> {
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

function writeMapping(dir: string, source: TestRegistry, target: TestRegistry, repositories: string[]): string {
  const file = join(dir, 'mapping.txt');
  writeFileSync(file, repositories.map((r) => `${source.host}/${r}:v1=${target.host}/${r}:v1\n`).join(''));
  return file;
}

function skopeoLoop(source: TestRegistry, target: TestRegistry, repositories: string[]): Promise<Measured> {
  return measure([source, target], async () => {
    for (const r of repositories) await skopeoCopyAll(source, `${r}:v1`, target, `${r}:v1`);
  });
}

const fmt = (seconds: number) => `${seconds.toFixed(2)} s`;
const cpu = (m: Measured) => `${m.toolCpu.toFixed(2)} + ${m.registryCpu.toFixed(2)} s`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

/** Image counts compared, from OLM_MIRROR_BENCH_IMAGES (comma-separated). */
function imageCounts(): number[] {
  const raw = process.env.OLM_MIRROR_BENCH_IMAGES ?? '24,96';
  const counts = raw.split(',').map((part) => Number(part.trim()));
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`OLM_MIRROR_BENCH_IMAGES must be positive integers separated by commas, got "${raw}"`);
  return counts;
}

/** One comparison: the same N images mirrored by olm-mirror and by a skopeo loop, each into a fresh registry, then again. */
async function compareWithSkopeo(count: number, layerMiB: number, workDir: string, authFile: string, start: () => Promise<TestRegistry>)
  : Promise<void> {
  console.log(`\n${count} images (${layerMiB} MiB own layer each, 1.5 MiB shared base layers, every 4th two-platform)`);
  const source = await start();
  const repositories = await seedImages(source, count, layerMiB);

  const ours = await start();
  const mapping = writeMapping(workDir, source, ours, repositories);
  const olmMirror = () => runOlmMirror(['-f', mapping], authFile);
  const oursFirst = await measure([source, ours], olmMirror);
  const oursAgain = await measure([source, ours], olmMirror);

  const theirs = await start();
  const skopeoFirst = await skopeoLoop(source, theirs, repositories);
  const skopeoAgain = await skopeoLoop(source, theirs, repositories);

  const rawDir = join(workDir, `raw-copy-${count}`);
  const rawCopy = await measure([], () => promisify(execFile)('cp', ['-r', source.storageDir, rawDir]));

  console.log(table([
    ['', 'olm-mirror', 'skopeo loop', 'skopeo / olm-mirror', 'target'],
    ['first mirror', fmt(oursFirst.seconds), fmt(skopeoFirst.seconds), ratio(skopeoFirst.seconds, oursFirst.seconds),
      `>= ${TARGETS.firstSpeedup}x ${verdict(skopeoFirst.seconds / oursFirst.seconds >= TARGETS.firstSpeedup)}`],
    ['re-run (all present)', fmt(oursAgain.seconds), fmt(skopeoAgain.seconds), ratio(skopeoAgain.seconds, oursAgain.seconds),
      `>= ${TARGETS.rerunSpeedup}x ${verdict(skopeoAgain.seconds / oursAgain.seconds >= TARGETS.rerunSpeedup)}`],
    ['raw copy (cp -r storage)', fmt(rawCopy.seconds), '', `olm-mirror / raw: ${ratio(oursFirst.seconds, rawCopy.seconds)}`, ''],
  ]));
  // Wall times depend on what else the machine runs; CPU seconds show the work each approach costs.
  console.log(table([
    ['CPU (tool + registries)', 'olm-mirror', 'skopeo loop'],
    ['first mirror', cpu(oursFirst), cpu(skopeoFirst)],
    ['re-run (all present)', cpu(oursAgain), cpu(skopeoAgain)],
  ]));
}

export async function runImageMirrorBench(): Promise<void> {
  const counts = imageCounts();
  const layerMiB = envInt('OLM_MIRROR_BENCH_LAYER_MIB', 2);
  const bigMiB = envInt('OLM_MIRROR_BENCH_BIG_MIB', 1024);
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
    console.log('image mirror benchmark: olm-mirror against a `skopeo copy --all` loop over the same mapping and a raw copy of the bytes.');
    console.log('A small run shows the fixed costs (process start, connections); a catalog-sized run shows how each scales.');
    for (const count of counts) await compareWithSkopeo(count, layerMiB, workDir, authFile, start);

    if (bigMiB > 0) {
      const source = await start();
      await seedImage(source, 'bench/big', 'v1', { layerSizes: [bigMiB * MiB], seed: 'bench-big' });
      const bigTarget = await start();
      const big = await measure([source, bigTarget], () => runOlmMirror([`${source.host}/bench/big:v1`, `${bigTarget.host}/bench/big`], authFile));
      const peak = big.result.peakRssMiB;
      console.log(table([
        ['', 'seconds', 'throughput', 'peak RSS', 'target'],
        [`${bigMiB} MiB single-layer image`, fmt(big.seconds), `${(bigMiB / big.seconds).toFixed(0)} MiB/s`, `${peak.toFixed(0)} MiB`,
          `< ${TARGETS.peakRssMiB} MiB ${verdict(peak < TARGETS.peakRssMiB)}`],
      ]));
    }
  } finally {
    await Promise.all(registries.map((r) => r.stop()));
    rmSync(workDir, { recursive: true, force: true });
  }
}
