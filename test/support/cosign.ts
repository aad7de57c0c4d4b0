// Signatures and referrers made the way cosign and OCI 1.1 clients make them, pushed over raw HTTP
// (independent of the code under test): a P-256 key, the simple-signing payload, a `sha256-<hex>.sig`
// manifest whose layer carries the signature annotation; artifacts with a `subject` and the referrers
// tag schema's `sha256-<hex>` index.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { TestRegistry } from './registry.js';
import { rawPutBlob, rawPutManifest } from './seed.js';

// cosign's constants, spelled out here rather than imported from src/ so a rename there breaks the tests.
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** `sha256:<hex>` -> `sha256-<hex><suffix>` (cosign's tag scheme and the referrers tag schema). */
export const tagFor = (digest: string, suffix = ''): string => `${digest.replace(':', '-')}${suffix}`;

export interface CosignKey { privateKey: KeyObject; publicKeyPem: string }

export function generateCosignKey(): CosignKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** The payload `cosign sign` signs, byte for byte in its field order. */
export function simpleSigningPayload(dockerReference: string, digest: string): Buffer {
  return Buffer.from(JSON.stringify({
    critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' },
    optional: null,
  }));
}

export interface PushedArtifact { tag: string; digest: string; bytes: Buffer; blobDigests: string[] }

/**
 * Signs `digest` (an image in `repository`) as `cosign sign --key` does and pushes the signature as
 * `sha256-<hex>.sig`. `payload` overrides what is signed; `signature` overrides the signature bytes.
 */
export async function pushCosignSignature(reg: TestRegistry, repository: string, digest: string, key: KeyObject,
  overrides: { payload?: Buffer; signature?: Buffer } = {}): Promise<PushedArtifact> {
  const payload = overrides.payload ?? simpleSigningPayload(`${reg.host}/${repository}`, digest);
  const signature = overrides.signature ?? sign('sha256', payload, key);
  const payloadDigest = await rawPutBlob(reg, repository, payload);
  const config = Buffer.from(JSON.stringify({
    architecture: '', config: {}, created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '',
    rootfs: { type: 'layers', diff_ids: [payloadDigest] },
  }));
  const configDigest = await rawPutBlob(reg, repository, config);
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, size: config.length, digest: configDigest },
    layers: [{ mediaType: SIMPLE_SIGNING, size: payload.length, digest: payloadDigest, annotations: { [SIGNATURE_ANNOTATION]: signature.toString('base64') } }],
  }));
  const tag = tagFor(digest, '.sig');
  return { tag, digest: await rawPutManifest(reg, repository, tag, OCI_MANIFEST, bytes), bytes, blobDigests: [configDigest, payloadDigest] };
}

/** An artifact of one blob under a cosign tag (`.att`, `.sbom`), as `cosign attest` / `cosign attach sbom` push them. */
export async function pushCosignArtifact(reg: TestRegistry, repository: string, digest: string, suffix: '.att' | '.sbom',
  layerMediaType: string, content: string): Promise<PushedArtifact> {
  const blob = Buffer.from(content);
  const blobDigest = await rawPutBlob(reg, repository, blob);
  const config = Buffer.from('{}');
  const configDigest = await rawPutBlob(reg, repository, config);
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, size: config.length, digest: configDigest },
    layers: [{ mediaType: layerMediaType, size: blob.length, digest: blobDigest }],
  }));
  const tag = tagFor(digest, suffix);
  return { tag, digest: await rawPutManifest(reg, repository, tag, OCI_MANIFEST, bytes), bytes, blobDigests: [configDigest, blobDigest] };
}

/**
 * An OCI 1.1 artifact whose `subject` is the manifest `subject`, pushed by digest, and the referrers
 * tag schema's index `sha256-<subject hex>` listing it (what a client does at a registry without the
 * referrers API) unless `fallbackTag` is false. Returns the artifact (its `tag` is the fallback index's) and the index digest.
 */
export async function pushReferrer(reg: TestRegistry, repository: string, subject: { digest: string; mediaType: string; size: number },
  artifactType: string, content: string, opts: { fallbackTag?: boolean } = {}): Promise<PushedArtifact & { indexDigest?: string }> {
  const blob = Buffer.from(content);
  const blobDigest = await rawPutBlob(reg, repository, blob);
  const empty = Buffer.from('{}');
  const emptyDigest = await rawPutBlob(reg, repository, empty);
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType,
    config: { mediaType: OCI_EMPTY, size: empty.length, digest: emptyDigest },
    layers: [{ mediaType: 'application/spdx+json', size: blob.length, digest: blobDigest }],
    subject,
  }));
  const digest = await rawPutManifest(reg, repository, sha256(bytes), OCI_MANIFEST, bytes);
  const tag = tagFor(subject.digest);
  if (opts.fallbackTag === false) return { tag, digest, bytes, blobDigests: [emptyDigest, blobDigest] };
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_INDEX,
    manifests: [{ mediaType: OCI_MANIFEST, digest, size: bytes.length, artifactType }],
  }));
  const indexDigest = await rawPutManifest(reg, repository, tag, OCI_INDEX, index);
  return { tag, digest, bytes, blobDigests: [emptyDigest, blobDigest], indexDigest };
}
