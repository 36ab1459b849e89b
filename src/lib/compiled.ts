// Where a module's compiled sibling is: a file tsc writes next to this module in dist/ (a worker
// thread's script, the status page's browser module). Run from dist/ (the package, the image), it
// is beside the caller. Run from src/ by the test runner, which compiles TypeScript in memory and
// writes nothing, it is the same path under dist/: build first (`npm run build`).
/** The compiled file `name` (e.g. './hash-thread.js') beside the module at `moduleUrl` (import.meta.url). */
export function compiledSibling(name: string, moduleUrl: string): URL {
  const url = new URL(name, moduleUrl);
  if (!moduleUrl.endsWith('.ts')) return url;
  return new URL(url.href.replace(/\/src\/(?!.*\/src\/)/, '/dist/'));
}

