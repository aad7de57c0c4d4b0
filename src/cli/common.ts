// Flags and conventions shared by every command that talks to registries.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CredentialStore } from '../auth/credentials.js';
import { DEFAULT_MAX_EXTRACT_BYTES } from '../catalog/image/labels.js';
import { OlmMirrorError } from '../errors.js';
import { parseArchiveSize } from '../transport/archive/format.js';
import { parseSize } from '../util/size.js';
import type { RegistryClientOptions } from '../registry/client.js';
import { CertificateAuthorityError, readCertificateAuthority } from '../registry/certificates.js';
import { ADAPTIVE_DEFAULTS } from '../mirror/adaptive-limit.js';

export { ExitCode } from '../errors.js';

/** Bad flags or input found by a command's own checks: exit code 2, nothing done. */
export class UsageError extends OlmMirrorError {
  constructor(message: string) {
    super('usage', message);
  }
}

export interface RegistryFlags {
  registryConfig?: string;
  insecure?: boolean;
  certificateAuthority?: string[];
  maxPerRegistry?: number;
  retries?: number;
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

/** Argument parser for sizes: bytes, or with a binary unit (`512MiB`, `4G`, `10 KiB`). */
export function parseByteSize(value: string): number {
  const bytes = parseSize(value);
  if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes < 1) {
    throw new InvalidArgumentError(`expected a size such as 4GiB, 512MiB or 1048576, got "${value}"`);
  }
  return bytes;
}

/** Adds --max-extract-size to a command that pulls catalog images. */
export function addExtractionFlag(cmd: Command): Command {
  return cmd.addOption(new Option('--max-extract-size <size>', 'the most extracting a catalog image may write to disk (e.g. 512MiB, 8GiB)')
    .argParser(parseByteSize).default(DEFAULT_MAX_EXTRACT_BYTES, '4GiB'));
}

/** Argument parser for repeatable flags: every occurrence is kept, in order. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Argument parser for regex flags: a bad pattern is a usage error before anything is contacted. */
export function regexArgument(value: string): string {
  try {
    new RegExp(value);
  } catch (err) {
    throw new InvalidArgumentError(`not a valid regular expression: ${(err as Error).message}`);
  }
  return value;
}

/** Argument parser for archive sizes (`4GiB`, `700MiB`): a bad size is a usage error. */
export function archiveSizeArgument(value: string): number {
  try {
    return parseArchiveSize(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function parseRetries(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 100) throw new InvalidArgumentError(`expected an integer from 0 to 100, got "${value}"`);
  return n;
}

/** Adds -a/--registry-config, --insecure, --certificate-authority, --max-per-registry and --retries. */
export function addRegistryFlags(cmd: Command): Command {
  return cmd
    .option('-a, --registry-config <file>',
      'credentials file (podman auth.json or docker config.json); default: $REGISTRY_AUTH_FILE, then the podman and docker locations')
    .option('--insecure', 'allow plain HTTP and TLS certificates that do not verify', false)
    .option('--certificate-authority <file>', 'trust this PEM CA bundle as well (repeatable)', collect)
    .addOption(new Option('--max-per-registry <n>', 'at most this many parallel requests per registry, reads and writes each ' +
      `(default: ${ADAPTIVE_DEFAULTS.cap}; halved when a registry answers 429/503 or times out, then grown back one at a time while it pays)`)
      .argParser(parsePositiveInt))
    .addOption(new Option('--retries <n>', 'times a failed request (network error, 5xx, 429, damaged content) is tried again')
      .argParser(parseRetries).default(4));
}

/** --remove-signatures and --verify-signatures, for every command that mirrors. */
export function addSignatureFlags(cmd: Command): Command {
  return cmd
    .option('--remove-signatures', 'do not copy signatures, attestations, SBOMs and referrers (by default each mirrored manifest\'s are copied with it)')
    .option('--verify-signatures <key.pub>', 'mirror only images whose cosign signature this public key (PEM, ECDSA P-256) verifies; the others fail');
}

/** --report FILE, for every command that mirrors. */
export function addReportFlag(cmd: Command): Command {
  return cmd.option('--report <file>', 'write a JSON report of every image (source, destination, digest, status, bytes, error) '
    + 'and, when images failed, FILE.failed-mapping.txt to retry just them with -f');
}

/**
 * Client options from the shared flags. Credential and CA files that cannot be read are bad input
 * (exit 2, nothing contacted); what the credential file holds but olm-mirror cannot use is said on `warn`.
 */
export async function clientOptionsFrom(flags: RegistryFlags, warn: (line: string) => void = (line) => process.stderr.write(line))
  : Promise<RegistryClientOptions> {
  const credentials = await CredentialStore.load({ authFile: flags.registryConfig });
  for (const warning of credentials.warnings) warn(`warning: ${warning}\n`);
  for (const file of flags.certificateAuthority ?? []) {
    try {
      readCertificateAuthority(file);
    } catch (err) {
      throw err instanceof CertificateAuthorityError ? new UsageError(`--certificate-authority ${file}: ${err.reason}`) : err;
    }
  }
  return {
    credentials,
    uploadStateDir: join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'olm-mirror', 'uploads'),
    insecure: flags.insecure ?? false,
    caFiles: flags.certificateAuthority ?? [],
    maxConnectionsPerRegistry: flags.maxPerRegistry ?? ADAPTIVE_DEFAULTS.cap,
    retries: flags.retries ?? 4,
  };
}

/** Prints an error for a failed command the same way everywhere. */
export function reportFatal(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`error: ${message}\n`);
  if (process.env.OLM_MIRROR_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
}
