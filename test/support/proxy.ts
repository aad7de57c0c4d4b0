// Fault-injecting proxies in front of a real test registry, to test retries, resumption and digest verification
// against genuine registry behaviour plus controlled failures: an HTTP reverse proxy (plain HTTP on 127.0.0.1), and
// a TCP relay for faults below HTTP (connection resets, a black hole), which works for TLS registries too.
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { writeAuthFile, type TestRegistry } from './registry.js';

export type FaultAction =
  /** Answer with this status instead of forwarding (registry-style JSON error body unless `body` is given). */
  | { kind: 'status'; status: number; retryAfter?: number | string; body?: string }
  /** Forward, but flip the first byte of the response body (same length, so only a digest check notices). */
  | { kind: 'corrupt' }
  /** Forward the headers and the first `afterBytes` bytes of the body, then destroy the connection. */
  | { kind: 'cut'; afterBytes: number }
  /** Wait, then forward normally. */
  | { kind: 'delay'; ms: number }
  /** Forward normally once `until` settles (the test decides when). */
  | { kind: 'hold'; until: Promise<unknown> }
  /** Forward the headers, then the body at `bytes` every `everyMs` (a source that trickles). */
  | { kind: 'trickle'; bytes: number; everyMs: number };

export interface FaultRule {
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Matched against the request path including its query string, e.g. /\/blobs\/sha256:/. */
  path: RegExp;
  /** How many matching requests get the fault (default: all of them). */
  times?: number;
  /** The share of matching requests (0..1) that get the fault, drawn from the proxy's seeded generator; default all. */
  chance?: number;
  action: FaultAction;
}

export interface FaultProxyOptions {
  /** Seed of the generator behind `chance`, so that a run with random faults can be replayed (default 1). */
  seed?: number;
}

/** mulberry32: a small, seeded, good-enough generator of numbers in [0, 1). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Checked in order; the first rule that matches and has faults left applies. Mutable while the proxy runs. */
export type FaultRules = FaultRule[];

export interface ProxyHit {
  method: string;
  /** Path including the query string, as the client sent it. */
  path: string;
  /** Status the client got (502 when the registry could not be reached). */
  status: number;
  /** The fault applied to this request, if any. */
  fault?: FaultAction['kind'];
  /** The client's Range header, if any (to assert resumed downloads). */
  range?: string;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  /** The client's Content-Range (a chunk of an upload), if any. */
  contentRange?: string;
}

export interface FaultProxy {
  /** 127.0.0.1:PORT */
  host: string;
  /** http://host */
  url: string;
  rules: FaultRules;
  /** auth.json with the target's credentials keyed by the proxy's host (lives in the target's temp dir). */
  authFile: string;
  /** Every request answered, in the order of the answers (one its client gave up on mid-body has none). */
  hits: ProxyHit[];
  /** Every request as it arrives (before any fault or answer), to see what is in flight. */
  received: ReceivedRequest[];
  stop(): Promise<void>;
}

const ERROR_CODES: Record<number, string> = { 401: 'UNAUTHORIZED', 403: 'DENIED', 404: 'NOT_FOUND', 429: 'TOOMANYREQUESTS', 503: 'UNAVAILABLE' };

/** Response headers to copy: hop-by-hop ones are re-created by node for the client connection. */
function forwardableHeaders(headers: IncomingHttpHeaders, rewriteLocation: (location: string) => string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || ['connection', 'keep-alive', 'transfer-encoding'].includes(name)) continue;
    out[name] = name === 'location' && typeof value === 'string' ? rewriteLocation(value) : value;
  }
  return out;
}

function flipFirstByte(): Transform {
  let flipped = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!flipped && chunk.length > 0) {
        chunk = Buffer.from(chunk);
        chunk[0] = chunk[0]! ^ 0xff;
        flipped = true;
      }
      callback(null, chunk);
    },
  });
}

/** Buffers the upstream body and passes it on in small doses; stops when the client goes away. */
function trickle(upRes: IncomingMessage, res: ServerResponse, fault: Extract<FaultAction, { kind: 'trickle' }>): void {
  let queued = Buffer.alloc(0);
  let upstreamDone = false;
  upRes.on('data', (chunk: Buffer) => { queued = Buffer.concat([queued, chunk]); });
  upRes.on('end', () => { upstreamDone = true; });
  const timer = setInterval(() => {
    if (queued.length > 0) {
      res.write(queued.subarray(0, fault.bytes));
      queued = queued.subarray(fault.bytes);
    }
    if (queued.length === 0 && upstreamDone) {
      clearInterval(timer);
      res.end();
    }
  }, fault.everyMs);
  res.once('close', () => {
    clearInterval(timer);
    upRes.destroy();
  });
}

export async function startFaultProxy(target: TestRegistry, faults: FaultRules = [], opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  const random = seededRandom(opts.seed ?? 1);
  const targetUrl = new URL(target.url);
  const tls = targetUrl.protocol === 'https:';
  const agent = tls
    ? new HttpsAgent({ keepAlive: true, ca: target.caFile ? readFileSync(target.caFile) : undefined })
    : new HttpAgent({ keepAlive: true });
  const applied = new Map<FaultRule, number>();
  const hits: ProxyHit[] = [];
  const received: ReceivedRequest[] = [];
  /** Delayed requests not forwarded yet: dropped on stop(), so they keep nothing alive. */
  const delays = new Set<NodeJS.Timeout>();
  let proxyUrl = '';

  function pickRule(req: IncomingMessage): FaultRule | undefined {
    const rule = faults.find((r) => (!r.method || r.method.toUpperCase() === req.method)
      && r.path.test(req.url ?? '') && (applied.get(r) ?? 0) < (r.times ?? Infinity) && (r.chance === undefined || random() < r.chance));
    if (rule) applied.set(rule, (applied.get(rule) ?? 0) + 1);
    return rule;
  }

  const rewriteLocation = (location: string): string =>
    location.startsWith(target.url) ? proxyUrl + location.slice(target.url.length) : location;

  function record(req: IncomingMessage, status: number, fault?: FaultAction): void {
    const range = req.headers.range;
    hits.push({ method: req.method ?? '', path: req.url ?? '', status, ...(fault ? { fault: fault.kind } : {}), ...(range ? { range } : {}) });
  }

  function injectStatus(req: IncomingMessage, res: ServerResponse, action: Extract<FaultAction, { kind: 'status' }>): void {
    // Read the whole request first so the client is not cut off mid-upload with EPIPE.
    req.resume();
    req.once('end', () => {
      const body = action.body ?? JSON.stringify({ errors: [{ code: ERROR_CODES[action.status] ?? 'UNKNOWN', message: `fault injected by the test proxy (HTTP ${action.status})`, detail: null }] });
      res.writeHead(action.status, {
        'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
        ...(action.retryAfter !== undefined ? { 'retry-after': String(action.retryAfter) } : {}),
      });
      res.end(body);
      record(req, action.status, action);
    });
  }

  function forward(req: IncomingMessage, res: ServerResponse, fault?: FaultAction): void {
    const send = tls ? httpsRequest : httpRequest;
    const upstream = send({
      host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, agent,
      headers: { ...req.headers, host: target.host },
    }, (upRes) => {
      const status = upRes.statusCode ?? 502;
      res.writeHead(status, forwardableHeaders(upRes.headers, rewriteLocation));
      record(req, status, fault);
      if (fault?.kind === 'cut' && fault.afterBytes <= 0) {
        // Headers only: the client is told a length and gets no body at all.
        res.flushHeaders();
        res.socket?.end(() => res.socket?.destroy());
        upRes.destroy();
      } else if (fault?.kind === 'cut') {
        let budget = fault.afterBytes;
        upRes.on('data', (chunk: Buffer) => {
          if (budget <= 0) return;
          const part = chunk.subarray(0, budget);
          budget -= part.length;
          res.write(part);
          if (budget <= 0) {
            // Let the bytes reach the socket before cutting it; the client sees a short body.
            res.socket?.end(() => res.socket?.destroy());
            upRes.destroy();
          }
        });
        upRes.on('end', () => res.end());
      } else if (fault?.kind === 'trickle') {
        trickle(upRes, res, fault);
      } else if (fault?.kind === 'corrupt') {
        upRes.pipe(flipFirstByte()).pipe(res);
      } else {
        upRes.pipe(res);
      }
    });
    upstream.on('error', (err) => {
      // The client gave up on its request (see below): there is no one to answer, and nothing to record.
      if (!req.complete && req.destroyed) return;
      if (res.headersSent) {
        res.destroy(err);
        return;
      }
      const body = JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `test proxy could not reach ${target.url}: ${err.message}` }] });
      res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      record(req, 502, fault);
    });
    // A client that gives up mid-body gives up upstream too, as its cut connection would.
    req.once('close', () => { if (!req.complete) upstream.destroy(); });
    req.pipe(upstream);
  }

  const server = createServer((req, res) => {
    const contentRange = req.headers['content-range'];
    received.push({ method: req.method ?? '', path: req.url ?? '', ...(contentRange ? { contentRange } : {}) });
    const action = pickRule(req)?.action;
    if (action?.kind === 'status') injectStatus(req, res, action);
    else if (action?.kind === 'delay') {
      const timer = setTimeout(() => {
        delays.delete(timer);
        forward(req, res, action);
      }, action.ms);
      delays.add(timer);
    }
    else if (action?.kind === 'hold') void action.until.finally(() => forward(req, res, action));
    else forward(req, res, action);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxyUrl = `http://${host}`;
  const authFile = join(dirname(target.authFile), `auth-proxy-${host.replace(':', '-')}.json`);
  writeAuthFile(authFile, host, target.username, target.password);
  return {
    host, url: proxyUrl, rules: faults, hits, received, authFile,
    stop: () => new Promise<void>((resolve) => {
      for (const timer of delays) clearTimeout(timer);
      delays.clear();
      server.close(() => resolve());
      server.closeAllConnections();
      agent.destroy();
    }),
  };
}

export interface TcpFaultProxy {
  /** 127.0.0.1:PORT */
  host: string;
  /** Connections accepted so far. */
  connections: number;
  /** From now on a black hole: nothing more is relayed, on open connections or new ones (a registry that died mid-run). */
  silence(): void;
  stop(): Promise<void>;
}

/**
 * Faults below HTTP, for TLS registries too: a TCP relay to `target` that resets its first
 * `resetFirst` connections, or (without a target) a black hole that accepts connections and never says anything.
 */
export async function startTcpFaultProxy(opts: { target?: TestRegistry; resetFirst?: number }): Promise<TcpFaultProxy> {
  const sockets = new Set<Socket>();
  const state = { connections: 0, silent: false };
  const server = createNetServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    const n = ++state.connections;
    if (!opts.target || state.silent) return; // the black hole: the connection stays open, silent
    if (n <= (opts.resetFirst ?? 0)) {
      client.resetAndDestroy();
      return;
    }
    const { hostname, port } = new URL(opts.target.url);
    const upstream = connect(Number(port), hostname);
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    // Relayed by hand, so that silence() stops it on connections already open.
    client.on('data', (chunk: Buffer) => { if (!state.silent) upstream.write(chunk); });
    upstream.on('data', (chunk: Buffer) => { if (!state.silent) client.write(chunk); });
    client.once('end', () => upstream.end());
    upstream.once('end', () => client.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() { return state.connections; },
    silence: () => { state.silent = true; },
    stop: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}
