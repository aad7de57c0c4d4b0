// CA bundle files (--certificate-authority): read and checked before anything is contacted, without
// loading the HTTP client (a bad file is a usage error, found at once).
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { OlmMirrorError } from '../errors.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

export class CertificateAuthorityError extends OlmMirrorError {
  constructor(readonly file: string, readonly reason: string) {
    super('usage', `certificate authority file ${file}: ${reason}`);
  }
}

/** The PEM text of a CA bundle file, checked to hold certificates (Node would silently trust nothing from it otherwise). */
export function readCertificateAuthority(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CertificateAuthorityError(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new CertificateAuthorityError(file, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new CertificateAuthorityError(file, `certificate ${i + 1} of ${blocks.length} cannot be read (${(err as Error).message})`);
    }
  });
  return text;
}
