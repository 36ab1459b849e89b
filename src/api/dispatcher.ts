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
  });
  return agent.compose(interceptors.redirect({ maxRedirections: opts.maxRedirects }));
}
