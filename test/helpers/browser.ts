// A real browser for the status page tests: Debian's chromium (.ci/run installs it), driven by
// playwright-core (which downloads no browser). Outside CI a missing chromium skips the browser tests
// with a printed reason; in CI (CI set) it is a failure.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CONSTELLR_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Decide once per file: run, skip (printed) outside CI, or fail in CI. */
export function requireChromium(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  const reason = `no chromium at ${CHROMIUM_PATH} (apt-get install -y chromium, or set CONSTELLR_TEST_CHROMIUM)`;
  if (process.env.CI) throw new Error(`${reason}; CI is set, so the browser tests must run (.ci/run installs it)`);
  console.warn(`skipping browser tests: ${reason}`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60_000 });
}
