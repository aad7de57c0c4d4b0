// skopeo as an independent second opinion on what a test registry holds, and as a reference
// copier for benchmarks. Credentials go through the registry's auth.json (--authfile), never argv.
import { execFile } from 'node:child_process';
import type { TestRegistry } from './registry.js';

const SKOPEO = process.env.OLM_MIRROR_TEST_SKOPEO_BIN ?? 'skopeo';

/** TLS and credential flags for talking to `reg`; `prefix` is '' or 'src-'/'dest-' for skopeo copy. */
function registryFlags(reg: TestRegistry, prefix = ''): string[] {
  const tls = reg.certDir ? [`--${prefix}cert-dir`, reg.certDir] : [`--${prefix}tls-verify=false`];
  return [...tls, `--${prefix}authfile`, reg.authFile];
}

function run(args: string[], timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(SKOPEO, args, { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`skopeo ${args.filter((a) => /^(docker:\/\/|oci:)/.test(a)).join(' ')} failed (${err.code ?? err.signal ?? err.message}): ${stderr.toString().trim()}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

/** The exact manifest bytes of `repo:tag` or `repo@sha256:...` on `reg` (`skopeo inspect --raw`). */
export function skopeoInspectRaw(reg: TestRegistry, refWithoutHost: string): Promise<Buffer> {
  return run(['inspect', '--raw', ...registryFlags(reg), `docker://${reg.host}/${refWithoutHost}`], 30_000);
}

function copyAll(flags: string[], from: string, to: string): Promise<Buffer> {
  return run(['--insecure-policy', 'copy', '--all', '--quiet', ...flags, from, to], 600_000);
}

/** `skopeo copy --all` between two test registries (every platform, digests preserved). */
export async function skopeoCopyAll(src: TestRegistry, srcRefWithoutHost: string, dest: TestRegistry, destRefWithoutHost: string): Promise<void> {
  await copyAll(['--preserve-digests', ...registryFlags(src, 'src-'), ...registryFlags(dest, 'dest-')],
    `docker://${src.host}/${srcRefWithoutHost}`, `docker://${dest.host}/${destRefWithoutHost}`);
}

/**
 * `skopeo copy --all` from a test registry into the OCI layout `dir` under `name`. Docker manifests
 * are converted to OCI ones (the oci: transport takes nothing else), so digests are not preserved.
 */
export async function skopeoCopyAllToLayout(src: TestRegistry, srcRefWithoutHost: string, dir: string, name: string): Promise<void> {
  await copyAll(registryFlags(src, 'src-'), `docker://${src.host}/${srcRefWithoutHost}`, `oci:${dir}:${name}`);
}

/** `skopeo copy --all` of the image `name` of the OCI layout `dir` to a test registry (digests preserved). */
export async function skopeoCopyAllFromLayout(dir: string, name: string, dest: TestRegistry, destRefWithoutHost: string): Promise<void> {
  await copyAll(['--preserve-digests', ...registryFlags(dest, 'dest-')], `oci:${dir}:${name}`, `docker://${dest.host}/${destRefWithoutHost}`);
}
