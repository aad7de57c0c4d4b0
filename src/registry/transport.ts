// HTTP plumbing: undici Pools per origin (keep-alive, bounded connections), TLS trust, timeouts.
import { rootCertificates } from 'node:tls';
import type { Dispatcher } from 'undici';
import request from 'undici/lib/api/api-request.js';
import Pool from 'undici/lib/dispatcher/pool.js';
import { readCertificateAuthority } from './certificates.js';

export interface TransportOptions {
  insecure?: boolean;
  caFiles?: string[];
  maxConnectionsPerRegistry?: number;
  requestTimeoutMs?: number;
  /** Time to connect (TCP and TLS); default 10 s. */
  connectTimeoutMs?: number;
  minTransferRate?: TransferRate;
}

/**
 * Like curl's --speed-limit/--speed-time: a body that delivers fewer than `bytesPerSecond` on average
 * over `windowMs` of waiting for it is abandoned (SlowTransferError). `bytesPerSecond: 0` turns this off.
 */
export interface TransferRate { bytesPerSecond: number; windowMs: number }

export const DEFAULT_MIN_TRANSFER_RATE: TransferRate = { bytesPerSecond: 1024, windowMs: 30_000 };

/** A response body abandoned for being too slow; retried like a broken connection (and a download resumes). */
export class SlowTransferError extends Error {
  readonly code = 'ERR_TRANSFER_TOO_SLOW';
}

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
/** An array of buffers is sent as one body, in order (no copy joins them first). */
export type RequestBody = Uint8Array | string | readonly Uint8Array[] | AsyncIterable<Uint8Array> | NodeJS.ReadableStream;
export type Headers = Record<string, string>;

export interface HttpResponse {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects). */
  url: URL;
  /** Enforced by bodyChunks(). */
  minRate?: TransferRate;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
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
 * Enforces `res.minRate` on a response body: destroys it with a SlowTransferError when it delivered
 * too little over a window of waiting. Only waiting counts: while the reader holds the body paused
 * (it feeds a slow upload, say), the clock stands still. A timer runs only while waiting, and chunks
 * arriving do not touch it.
 */
export class TransferWatchdog {
  private readonly needed: number;
  private timer: NodeJS.Timeout | undefined;
  /** Waiting time of the current window, up to `since` (undefined while paused). */
  private waited = 0;
  private since: number | undefined;
  private bytes = 0;

  private constructor(private readonly res: HttpResponse, private readonly rate: TransferRate) {
    this.needed = (rate.bytesPerSecond * rate.windowMs) / 1000;
    this.resume();
    res.body.once('close', () => this.pause());
  }

  /** Undefined when the response has no minimum rate. */
  static watch(res: HttpResponse): TransferWatchdog | undefined {
    const rate = res.minRate;
    return rate && rate.bytesPerSecond > 0 ? new TransferWatchdog(res, rate) : undefined;
  }

  received(bytes: number): void {
    this.bytes += bytes;
  }

  /** The reader stopped asking for data; also for good, when it is done with the body. */
  pause(): void {
    if (this.since === undefined) return;
    this.waited += Date.now() - this.since;
    this.since = undefined;
    clearTimeout(this.timer);
  }

  resume(): void {
    if (this.since !== undefined || this.res.body.destroyed) return;
    this.since = Date.now();
    this.timer = setTimeout(() => this.check(), Math.max(0, this.rate.windowMs - this.waited));
  }

  private check(): void {
    this.pause();
    if (this.waited < this.rate.windowMs) {
      this.resume();
      return;
    }
    if (this.bytes < this.needed) {
      this.res.body.destroy(new SlowTransferError(`${this.res.url.host} sent ${this.bytes} bytes in ${Math.round(this.waited / 1000)} s, below the minimum `
        + `transfer rate of ${this.rate.bytesPerSecond} bytes/s over ${Math.round(this.rate.windowMs / 1000)} s`));
      return;
    }
    this.waited = 0;
    this.bytes = 0;
    this.resume();
  }
}

/** The chunks of a response body, abandoned with a SlowTransferError when they come slower than `res.minRate`. */
export async function* bodyChunks(res: HttpResponse): AsyncGenerator<Buffer> {
  const watchdog = TransferWatchdog.watch(res);
  try {
    for await (const chunk of res.body) {
      watchdog?.received((chunk as Buffer).length);
      watchdog?.pause();
      yield chunk as Buffer;
      watchdog?.resume();
    }
  } finally {
    watchdog?.pause();
  }
}

/**
 * Reads at most `limit` bytes of a response body. `truncated` says the body was longer; the rest is
 * not read (the stream is destroyed), so a huge or endless body cannot fill the memory.
 */
export async function readBody(res: HttpResponse, limit: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const buf of bodyChunks(res)) {
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


/** A CA file that cannot be used (unreadable, or without a PEM certificate that parses): bad input, nothing done. */
export class Transport {
  private readonly pools = new Map<string, Pool>();
  private readonly connect: { ca?: string[]; rejectUnauthorized: boolean; timeout: number };
  private readonly connections: number;
  private readonly headersTimeout: number;
  private readonly bodyTimeout: number;
  private readonly minRate: TransferRate;

  /** Reads the CA files now, so that a wrong path fails at start-up naming the file. */
  constructor(opts: TransportOptions = {}) {
    const extra = (opts.caFiles ?? []).map(readCertificateAuthority);
    // Passing `ca` replaces Node's trust store, so keep its roots alongside the extra CAs.
    this.connect = {
      ...(extra.length > 0 ? { ca: [...rootCertificates, ...extra] } : {}),
      rejectUnauthorized: !opts.insecure,
      timeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    };
    this.connections = opts.maxConnectionsPerRegistry ?? 6;
    this.headersTimeout = opts.requestTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
    this.bodyTimeout = opts.requestTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
    this.minRate = opts.minTransferRate ?? DEFAULT_MIN_TRANSFER_RATE;
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
  async send(url: URL, method: HttpMethod, headers: Headers = {}, body?: RequestBody, opts: { headersTimeoutMs?: number } = {}): Promise<HttpResponse> {
    const res = await request.call(this.pool(url.origin, method), {
      path: `${url.pathname}${url.search}`,
      method,
      headers: { 'user-agent': USER_AGENT, ...headers },
      body: body as Dispatcher.DispatchOptions['body'],
      // undici closes the connection after every HEAD unless told otherwise (in case a server sends a body
      // anyway); registries do not, and a mirror sends a HEAD for every blob and manifest it may skip.
      ...(method === 'HEAD' ? { reset: false } : {}),
      ...(opts.headersTimeoutMs !== undefined ? { headersTimeout: Math.min(opts.headersTimeoutMs, this.headersTimeout) } : {}),
    });
    return { status: res.statusCode, headers: res.headers, body: res.body, url, minRate: this.minRate };
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }
}
