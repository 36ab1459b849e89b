// The HTTP transport: one undici Agent, composed with the redirect interceptor. undici drops
// Authorization on cross-origin redirects, which presigned storage URLs require.
import { Agent, interceptors, type Dispatcher } from 'undici';

export interface DispatcherOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyIdleTimeoutMs: number;
  maxRedirects: number;
  /** Connections per origin; set to the download concurrency (plus one for listing). */
  connections: number;
}

export function createDispatcher(opts: DispatcherOptions): Dispatcher {
  const agent = new Agent({
    connect: { timeout: opts.connectTimeoutMs },
    headersTimeout: opts.headersTimeoutMs,
    bodyTimeout: opts.bodyIdleTimeoutMs,
    connections: opts.connections,
    keepAliveTimeout: 10_000,
    // undici 8 speaks HTTP/2 when a TLS server offers it (ALPN); 7 never did. Stay on HTTP/1.1: one
    // connection per concurrent download (`connections`), the timeouts and the error codes of
    // src/errors.ts are what the tests and the benchmarks measured, and HTTP/2 would put every
    // download to an origin on one connection.
    allowH2: false,
  });
  return agent.compose(interceptors.redirect({ maxRedirections: opts.maxRedirects }));
}
