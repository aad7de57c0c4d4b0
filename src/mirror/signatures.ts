// --verify-signatures KEY.pub: an image is mirrored only with a valid cosign signature by that key.
// cosign's simple signing: the `sha256-<hex>.sig` tag beside the image holds an OCI manifest whose
// layers are payloads (`application/vnd.dev.cosign.simplesigning.v1+json`), each with its ECDSA
// signature (base64, ASN.1 DER, over the SHA-256 of the payload bytes) in the layer annotation
// `dev.cosignproject.cosign/signature`. The payload's `critical.image.docker-manifest-digest` names
// the signed manifest. As `cosign verify --key`, the digest is checked, not the docker-reference.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { OlmMirrorError } from '../errors.js';
import { parseManifest } from '../manifest/manifest.js';
import { isPlainObject } from '../util/guards.js';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
/** `critical.type` of every cosign image signature payload. */
export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';

/** Payloads are a few hundred bytes; anything far larger is not one. */
const MAX_PAYLOAD_BYTES = 1024 * 1024;

/** The image has no signature the key verifies: it is not mirrored. */
export class SignatureVerificationError extends OlmMirrorError {
  constructor(message: string) {
    super('integrity', message);
  }
}

/** Reads a PEM public key (cosign.pub: ECDSA P-256); an unreadable or other key is a usage error. */
export async function loadSignatureKey(path: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new OlmMirrorError('usage', `--verify-signatures ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new OlmMirrorError('usage', `--verify-signatures ${path}: not a PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const what = key.asymmetricKeyType === 'ec' ? `an EC key on ${key.asymmetricKeyDetails?.namedCurve}` : `a key of type ${key.asymmetricKeyType}`;
    throw new OlmMirrorError('usage', `--verify-signatures ${path}: ${what}; cosign keys are ECDSA P-256`);
  }
  return key;
}

/** How the verifier reads the signature's payload blobs (verified against their digests by the store). */
export type PayloadReader = (digest: string, size: number) => Promise<Buffer>;

/**
 * Throws SignatureVerificationError unless one layer of the `.sig` manifest (`signature.bytes`,
 * undefined when the repository has no such tag) is a payload for `imageDigest` that `key` signed.
 */
export async function verifyImageSignature(image: string, imageDigest: string, signature: { tag: string; bytes?: Buffer },
  readPayload: PayloadReader, key: KeyObject): Promise<void> {
  if (signature.bytes === undefined) {
    throw new SignatureVerificationError(`${image} (${imageDigest}) is not signed: its repository has no cosign signature tag ${signature.tag}; ` +
      'not mirrored (--verify-signatures)');
  }
  const parsed = parseManifest(signature.bytes, undefined, `the signature ${signature.tag}`);
  const layers = parsed.kind === 'image' ? parsed.layers.filter((l) => l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE) : [];
  const problems: string[] = [];
  for (const layer of layers) {
    const signature = layer.annotations?.[SIGNATURE_ANNOTATION];
    if (signature === undefined) {
      problems.push(`payload ${layer.digest} has no ${SIGNATURE_ANNOTATION} annotation`);
      continue;
    }
    if (layer.size > MAX_PAYLOAD_BYTES) {
      problems.push(`payload ${layer.digest} is ${layer.size} bytes, too large for a signature payload`);
      continue;
    }
    const payload = await readPayload(layer.digest, layer.size);
    const problem = payloadProblem(payload, Buffer.from(signature, 'base64'), imageDigest, key);
    if (problem === undefined) return;
    problems.push(`payload ${layer.digest}: ${problem}`);
  }
  if (layers.length === 0) problems.push(`it has no ${SIMPLE_SIGNING_MEDIA_TYPE} layer`);
  throw new SignatureVerificationError(`${image} (${imageDigest}) has no valid signature by the --verify-signatures key in ` +
    `${signature.tag}: ${problems.join('; ')}; not mirrored`);
}

/** Why this payload and signature do not vouch for `imageDigest`; undefined when they do. */
export function payloadProblem(payload: Buffer, signature: Buffer, imageDigest: string, key: KeyObject): string | undefined {
  if (!verifies(payload, signature, key)) return 'the signature does not verify with the key';
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return 'the signed payload is not JSON';
  }
  const critical = isPlainObject(body) && isPlainObject(body.critical) ? body.critical : undefined;
  if (critical?.type !== SIMPLE_SIGNING_TYPE) return `the signed payload is not a cosign image signature (critical.type ${JSON.stringify(critical?.type)})`;
  const signed = isPlainObject(critical.image) ? critical.image['docker-manifest-digest'] : undefined;
  if (signed !== imageDigest) return `it signs ${JSON.stringify(signed)}, not this image`;
  return undefined;
}

/** A signature that is not even DER makes node:crypto throw: that is a signature that does not verify. */
function verifies(payload: Buffer, signature: Buffer, key: KeyObject): boolean {
  try {
    return verify('sha256', payload, key, signature);
  } catch {
    return false;
  }
}
