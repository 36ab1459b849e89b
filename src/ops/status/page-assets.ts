// The status page's browser code as static assets: page-client.js (the page's module) and
// page-render.js (the renderers it imports), as tsc compiled them into dist/ops/status/ beside this
// module. Only these names are served, read once, with a content hash as ETag: a browser revalidates
// on every load (no-cache) and gets 304 while the daemon's code is the same.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { compiledSibling } from '../../lib/compiled.js';

/** The modules the page loads, by their name under /assets/. */
export const BROWSER_MODULES = ['page-client.js', 'page-render.js'] as const;

export interface BrowserAsset {
  type: string;
  body: string;
  etag: string;
  cacheControl: string;
}

const loaded = new Map<string, BrowserAsset>();

/** The asset called `name`, or null when it is not one of the page's modules. */
export function browserAsset(name: string): BrowserAsset | null {
  if (!(BROWSER_MODULES as readonly string[]).includes(name)) return null;
  let a = loaded.get(name);
  if (!a) {
    // The source map comment would send the browser's developer tools after a file not served here.
    const body = readFileSync(compiledSibling(`./${name}`, import.meta.url), 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    a = { type: 'text/javascript; charset=utf-8', body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`, cacheControl: 'no-cache' };
    loaded.set(name, a);
  }
  return a;
}
