// This package's version, read once from package.json (build info metric, start-up line, --version).
import { createRequire } from 'node:module';

let cached: string | null = null;

export function packageVersion(): string {
  cached ??= (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  return cached;
}
