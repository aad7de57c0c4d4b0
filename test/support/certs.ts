// A throw-away certificate authority for the HTTPS test registries and the token issuer,
// made once per test process with the openssl CLI and removed when the process exits.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeOnExit } from './cleanup.js';

export interface TestCertificates {
  dir: string;
  /** Holds only `ca.crt`: a containers-image `--cert-dir` (it rejects `*.key` files without a matching `*.cert`). */
  trustDir: string;
  caFile: string;
  caPem: string;
  /** Server certificate for 127.0.0.1 and localhost (SAN IP + DNS), signed by the CA. */
  serverCertFile: string;
  serverKeyFile: string;
  /** Certificate + key the token issuer signs JWTs with (EC P-256, signed by the CA). */
  tokenCertFile: string;
  tokenKeyFile: string;
}

let cached: TestCertificates | undefined;

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`openssl ${args[0]} failed while making test certificates in ${dir}: ${stderr || String(err)}`);
  }
}

/** Signs a fresh EC P-256 key for `name` with the CA, adding `extensions` (openssl x509v3 syntax). */
function issue(dir: string, name: string, subject: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
}

/** The process-wide test CA and certificates (created on first use). */
export function testCertificates(): TestCertificates {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-certs-'));
  removeOnExit(dir);
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=olm-mirror test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  issue(dir, 'server', '/CN=127.0.0.1',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n');
  issue(dir, 'token', '/CN=olm-mirror test token signer', 'keyUsage=critical,digitalSignature\n');
  const trustDir = join(dir, 'trust');
  mkdirSync(trustDir);
  const caFile = join(trustDir, 'ca.crt');
  copyFileSync(join(dir, 'ca.crt'), caFile);
  cached = {
    dir, trustDir, caFile, caPem: readFileSync(caFile, 'utf8'),
    serverCertFile: join(dir, 'server.crt'), serverKeyFile: join(dir, 'server.key'),
    tokenCertFile: join(dir, 'token.crt'), tokenKeyFile: join(dir, 'token.key'),
  };
  return cached;
}
