// `constellr-sync simulate --source stac` as a real child process: it serves the STAC sample with
// the API key from --api-key-file, never prints that key, and stops on SIGTERM.
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_MAIN, waitUntil } from '../helpers/harness.js';

const KEY = 'cli-sim-key-5e3f9a0c7d';
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('simulate --source stac', () => {
  it('serves the STAC sample behind the API key from --api-key-file and never prints the key', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sim-stac-'));
    cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const keyFile = path.join(dir, 'key');
    await fsp.writeFile(keyFile, `${KEY}\n`, { mode: 0o600 });
    const child = spawn(process.execPath, [CLI_MAIN, 'simulate', '--source', 'stac', '--port', '0', '--admin-port', '0', '--items', '12', '--url-ttl', '60', '--api-key-file', keyFile], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    await waitUntil(() => out.includes('Press Ctrl-C'), 20_000, 20, 'simulator start-up');
    const api = /STAC API:\s+(\S+)/.exec(out)![1]!;
    expect((await fetch(api)).status).toBe(401);
    const landing = await fetch(api, { headers: { 'X-Api-Key': KEY } });
    expect(landing.status).toBe(200);
    const search = (await (await fetch(`${api}/search?limit=100`, { headers: { 'X-Api-Key': KEY } })).json()) as { numberMatched: number; features: { assets: Record<string, { href: string }> }[] };
    expect(search.numberMatched).toBe(12);
    expect(new URL(search.features[0]!.assets.lst!.href).searchParams.get('X-Amz-Expires')).toBe('60');
    // the legacy asset API is still the default part of the simulator
    expect((await fetch(`${new URL(api).origin}/assets`, { headers: { 'X-Api-Key': KEY } })).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).not.toContain(KEY);
  });

  it('rejects an unknown --source', async () => {
    const child = spawn(process.execPath, [CLI_MAIN, 'simulate', '--source', 'ftp', '--port', '0', '--admin-port', '0'], { env: { PATH: process.env.PATH ?? '' } });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/--source must be assets or stac/);
  });
});
