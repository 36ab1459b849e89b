// The benchmark scripts are run by hand (`npm run bench`), not by the tests, so a syntax error in one
// would only show the next time someone measures. Each must at least parse.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const BENCH = path.resolve(__dirname, '../../bench');
const scripts = readdirSync(BENCH).filter((f) => f.endsWith('.mjs'));

describe('bench scripts', () => {
  it('there are scripts to check', () => expect(scripts).toContain('run.mjs'));
  it.each(scripts)('%s parses (node --check)', (f) => {
    execFileSync(process.execPath, ['--check', path.join(BENCH, f)], { stdio: 'pipe' });
  });
});

describe('node-floor (the bare durable Node client the bench measures against)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'node-floor-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // deterministic content per key, sizes from empty to a few chunks
  const body = (key: string, size: number): Buffer => {
    const out = Buffer.alloc(size);
    for (let i = 0, block = 0; i < size; block++) i += createHash('sha256').update(`${key}:${block}`).digest().copy(out, i);
    return out;
  };
  const assets = new Map<string, Buffer>();
  for (let i = 0; i < 40; i++) assets.set(`d${i % 3}/sub/obj-${i}.bin`, body(`k${i}`, (i * 7919) % 200_000));
  assets.set('d0/a name with spaces & #.bin', body('odd', 1234));
  assets.set('top.bin', body('top', 0));

  it('downloads every listed file byte-exact, with the bearer token, and leaves no .part behind', async () => {
    const auth: string[] = [];
    const server = http.createServer((req, res) => {
      auth.push(req.headers.authorization ?? '');
      const key = decodeURIComponent((req.url ?? '').replace(/^\/assets\//, ''));
      const data = assets.get(key);
      if (!data) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': data.length }).end(data);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const list = path.join(dir, 'list');
      const { port } = server.address() as AddressInfo;
      writeFileSync(list, `http://127.0.0.1:${port}/assets/\n${[...assets.keys()].join('\n')}\n`);
      const out = path.join(dir, 'out');
      await promisify(execFile)(process.execPath, [path.join(BENCH, 'node-floor.mjs'), list, out, '4'], { env: { ...process.env, BENCH_TOKEN: 'tok' } });
      for (const [key, data] of assets) expect(readFileSync(path.join(out, key)).equals(data), key).toBe(true);
      const all = readdirSync(out, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
      expect(all.length).toBe(assets.size);
      expect(auth).toEqual([...assets.keys()].map(() => 'Bearer tok'));
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
