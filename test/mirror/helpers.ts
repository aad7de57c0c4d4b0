// Shared by the mirror tests: run the command in-process with captured output, and look at a
// registry through the harness's raw HTTP (independent of the client under test).
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { runImageMirror, type ImageMirrorFlags } from '../../src/cli/image-mirror.js';
import { UsageError } from '../../src/cli/common.js';
import { rawRequest } from '../support/raw-http.js';
import type { TestRegistry } from '../support/registry.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

export interface CliRun { code: number; stdout: string; stderr: string }

/** `olm-mirror image mirror` in-process; usage errors come back as exit code 2 with the message on stderr. */
export async function mirrorCli(args: string[], flags: ImageMirrorFlags = {}): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  try {
    const code = await runImageMirror(args, { insecure: true, maxPerRegistry: 6, ...flags }, { stdout, stderr });
    return { code, stdout: stdout.text, stderr: stderr.text };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return { code: 2, stdout: stdout.text, stderr: `${stderr.text}error: ${err.message}\n` };
  }
}

/** Flags reaching `reg` with its credentials and CA. */
export function flagsFor(reg: TestRegistry): ImageMirrorFlags {
  return { registryConfig: reg.authFile, certificateAuthority: reg.caFile ? [reg.caFile] : [], insecure: reg.variant === 'plain' };
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export async function blobExists(reg: TestRegistry, repository: string, digest: string): Promise<boolean> {
  const res = await rawRequest(reg, repository, { method: 'HEAD', path: `/v2/${repository}/blobs/${digest}`, expect: [200, 404] });
  return res.status === 200;
}

/** Tags of a repository; [] when the repository does not exist. */
export async function tagsOf(reg: TestRegistry, repository: string): Promise<string[]> {
  const res = await rawRequest(reg, repository, { method: 'GET', path: `/v2/${repository}/tags/list`, expect: [200, 404] });
  return res.status === 404 ? [] : ((JSON.parse(res.body.toString('utf8')) as { tags: string[] | null }).tags ?? []);
}

/** Repositories the registry holds (the catalog endpoint). */
export async function repositoriesOf(reg: TestRegistry): Promise<string[]> {
  const res = await rawRequest(reg, '', { method: 'GET', path: '/v2/_catalog', expect: [200] });
  return (JSON.parse(res.body.toString('utf8')) as { repositories: string[] | null }).repositories ?? [];
}
