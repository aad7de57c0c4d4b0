// HTTP plumbing: undici Pools per origin (keep-alive, bounded connections), TLS trust, timeouts.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Pool, type Dispatcher } from 'undici';

export interface TransportOptions {
  insecure?: boolean;
  caFiles?: string[];
  maxConnectionsPerRegistry?: number;
  requestTimeoutMs?: number;
}

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
export type RequestBody = Uint8Array | string | AsyncIterable<Uint8Array> | NodeJS.ReadableStream;
export type Headers = Record<string, string>;

export interface HttpResponse {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects). */
  url: URL;
}

const DEFAULT_HEADERS_TIMEOUT_MS = 60_000;
const DEFAULT_BODY_TIMEOUT_MS = 120_000;
const USER_AGENT = 'olm-mirror';

/** First value of a response header (undici gives arrays for repeated headers). */
export function header(res: Pick<HttpResponse, 'headers'>, name: string): string | undefined {
  const value = res.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** All values of a response header. */
export function headerValues(res: Pick<HttpResponse, 'headers'>, name: string): string[] {
  const value = res.headers[name.toLowerCase()];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * Reads at most `limit` bytes of a response body. `truncated` says the body was longer; the rest is
 * not read (the stream is destroyed), so a huge or endless body cannot fill the memory.
 */
export async function readBody(res: HttpResponse, limit: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    const buf = chunk as Buffer;
    chunks.push(buf);
    total += buf.length;
    if (total > limit) {
      res.body.destroy();
      return { bytes: Buffer.concat(chunks).subarray(0, limit), truncated: true };
    }
  }
  return { bytes: Buffer.concat(chunks), truncated: false };
}

/** A response body as text, cut at `limit` bytes (error bodies are small; a proxy's HTML page needs no more). */
export async function readText(res: HttpResponse, limit = 64 * 1024): Promise<string> {
  return (await readBody(res, limit)).bytes.toString('utf8');
}

/** Frees the connection without reading a body we do not need. */
export async function discard(res: HttpResponse): Promise<void> {
  await res.body.dump().catch(() => undefined);
}

export class Transport {
  private readonly pools = new Map<string, Pool>();
  private readonly connect: { ca?: string[]; rejectUnauthorized: boolean };
  private readonly connections: number;
  private readonly headersTimeout: number;
  private readonly bodyTimeout: number;

  /** Reads the CA files now, so that a wrong path fails at start-up naming the file. */
  constructor(opts: TransportOptions = {}) {
    const extra = (opts.caFiles ?? []).map((file) => {
      try {
        return readFileSync(file, 'utf8');
      } catch (err) {
        throw new Error(`cannot read certificate authority file ${file}: ${(err as Error).message}`);
      }
    });
    // Passing `ca` replaces Node's trust store, so keep its roots alongside the extra CAs.
    this.connect = {
      ...(extra.length > 0 ? { ca: [...rootCertificates, ...extra] } : {}),
      rejectUnauthorized: !opts.insecure,
    };
    this.connections = opts.maxConnectionsPerRegistry ?? 6;
    this.headersTimeout = opts.requestTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
    this.bodyTimeout = opts.requestTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  }

  /**
   * Reads (GET/HEAD) and writes get separate pools per origin: an upload whose source is a download
   * from the same registry holds a read connection while it needs a write one, and with one shared
   * pool, `connections` such uploads in parallel would wait on each other forever.
   */
  private pool(origin: string, method: HttpMethod): Pool {
    const key = `${method === 'GET' || method === 'HEAD' ? 'read' : 'write'} ${origin}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.connections,
        connect: this.connect,
        headersTimeout: this.headersTimeout,
        bodyTimeout: this.bodyTimeout,
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** One HTTP exchange, no retries, no redirects; the caller must consume or discard the body. */
  async send(url: URL, method: HttpMethod, headers: Headers = {}, body?: RequestBody): Promise<HttpResponse> {
    const res = await this.pool(url.origin, method).request({
      path: `${url.pathname}${url.search}`,
      method,
      headers: { 'user-agent': USER_AGENT, ...headers },
      body: body as Dispatcher.DispatchOptions['body'],
    });
    return { status: res.statusCode, headers: res.headers, body: res.body, url };
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }
}
