// Expected OS errors end a command with one line, never a stack trace: a closed pipe on stdout ends
// every command quietly (exit 141, as SIGPIPE ends other tools), a busy port names the port and the
// flag that changes it (exit 2), and a read-only or missing directory names the path (exit 2).
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_MAIN, REPO_ROOT, openStore, runCli, tempDirs, type CliResult, type TempDirs } from '../helpers/harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function dirsFor(): Promise<TempDirs> {
  const d = await tempDirs('os-errors');
  cleanups.push(() => d.cleanup());
  await fsp.mkdir(d.root, { recursive: true });
  return d;
}

const STACK = /\n\s+at .+[(:]\d+|unexpected error|Unhandled 'error' event|EPIPE/;

/**
 * Run the CLI with a stdout whose reader is gone before the child writes a byte: the parent closes its
 * end of the pipe right after the spawn, long before node has started, so the first write is EPIPE.
 */
function runWithClosedStdout(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: '', stderr });
    });
  });
}

describe('a closed stdout (`| head`) ends every command quietly', () => {
  it('status, status --json, export --format csv, config check, migrate, retry, verify --json, every --help: exit 141, no error on stderr', async () => {
    const d = await dirsFor();
    // With credentials, so that config check has no warning to print on stderr.
    const env = { CONSTELLR_SYNC_STATE_DIR: d.state, CONSTELLR_SYNC_MIRROR_DIR: d.mirror, CONSTELLR_API_URL: 'http://127.0.0.1:9', CONSTELLR_API_KEY: 'k-0123456789' };
    // A state to report on (an empty one, schema applied): every command below then writes to stdout.
    const m = await runCli(['migrate'], { env });
    expect(m.code, m.stderr).toBe(0);
    const commands = [
      ['status'],
      ['status', '--json'],
      ['status', '--check'],
      ['export', '--format', 'csv'],
      ['config', 'check'],
      ['migrate'],
      ['retry', '--failed'],
      ['verify', '--json'],
      ['--help'],
      ['version'],
      ...['run', 'sync', 'status', 'migrate', 'simulate', 'demo', 'reconcile', 'verify', 'export', 'ls', 'config', 'retry'].map((c) => [c, '--help']),
    ];
    for (const args of commands) {
      const r = await runWithClosedStdout(args, env);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 141, stderr: expect.not.stringMatching(STACK) as unknown });
    }
  });

  it('an export longer than the pipe buffer, read by `head -3`: three lines, nothing on stderr', async () => {
    const d = await dirsFor();
    const env = { CONSTELLR_SYNC_STATE_DIR: d.state, CONSTELLR_SYNC_MIRROR_DIR: d.mirror };
    expect((await runCli(['migrate'], { env })).code).toBe(0);
    // The reader takes 3 lines and exits while export still writes: 5000 keys are ~1 MiB of CSV, far
    // more than a pipe buffer.
    const store = openStore(d.state);
    await store.upsertPage(
      Array.from({ length: 5000 }, (_, i) => ({ key: `k/${String(i).padStart(5, '0')}-${'x'.repeat(150)}.tif`, size: i, lastModifiedMs: 1_700_000_000_000 + i, etag: `e${i}` })),
      Date.now(),
    );
    await store.close();
    const sh = await new Promise<CliResult>((resolve) => {
      const child = spawn('bash', ['-c', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI_MAIN)} export --format csv | head -3; echo "rc=\${PIPESTATUS[0]}" >&2`], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...env },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (x: string) => (stdout += x));
      child.stderr.setEncoding('utf8').on('data', (x: string) => (stderr += x));
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    expect(sh.stdout.trim().split('\n')).toHaveLength(3);
    expect(sh.stderr.trim()).toBe('rc=141');
  });
});

async function busyPort(): Promise<{ port: number; close(): Promise<void> }> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  return { port, close: () => new Promise<void>((r) => s.close(() => r())) };
}

/** Exit 2, one line, nothing that looks like a stack trace. */
/** A shell script in a user and mount namespace of its own (unshare -rm): its mounts vanish with it. */
function inMountNamespace(script: string, env: Record<string, string>): Promise<CliResult> {
  return new Promise<CliResult>((resolve) => {
    const child = spawn('unshare', ['-rm', 'sh', '-c', script], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (x: string) => (stdout += x));
    child.stderr.setEncoding('utf8').on('data', (x: string) => (stderr += x));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function expectOneLine(r: CliResult, message: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr + r.stdout).not.toMatch(STACK);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
}

describe('a busy port: one line naming the port and the flag, exit 2', () => {
  it('simulate --port and --admin-port', async () => {
    const busy = await busyPort();
    cleanups.push(() => busy.close());
    expectOneLine(
      await runCli(['simulate', '--port', String(busy.port), '--admin-port', '0'], { timeoutMs: 20_000 }),
      new RegExp(`^constellr-sync simulate: port ${busy.port} on 127\\.0\\.0\\.1 is already in use \\(EADDRINUSE\\): choose another with --port N`),
    );
    expectOneLine(
      await runCli(['simulate', '--port', '0', '--admin-port', String(busy.port)], { timeoutMs: 20_000 }),
      new RegExp(`port ${busy.port} .*already in use.*choose another with --admin-port N`),
    );
    expectOneLine(await runCli(['simulate', '--source', 'stac', '--port', String(busy.port), '--admin-port', '0'], { timeoutMs: 20_000 }), /choose another with --port N/);
  });

  it('run: http.listen taken names --http-listen', async () => {
    const d = await dirsFor();
    const busy = await busyPort();
    cleanups.push(() => busy.close());
    const r = await runCli(['run', '--http-listen', `127.0.0.1:${busy.port}`], {
      env: { CONSTELLR_API_KEY: 'k-0123456789', CONSTELLR_API_URL: 'http://127.0.0.1:9', CONSTELLR_SYNC_STATE_DIR: d.state, CONSTELLR_SYNC_MIRROR_DIR: d.mirror },
      timeoutMs: 20_000,
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busy.port} .*EADDRINUSE.*--http-listen`));
    expect(r.stderr).not.toMatch(STACK);
  });
});

describe('a missing file or directory: one line naming it, exit 2', () => {
  it('simulate --api-key-file that does not exist', async () => {
    expectOneLine(await runCli(['simulate', '--api-key-file', '/nonexistent/key', '--port', '0', '--admin-port', '0']), /--api-key-file: cannot read \/nonexistent\/key: ENOENT/);
  });

  it('export --output into a directory that does not exist', async () => {
    const d = await dirsFor();
    const env = { CONSTELLR_SYNC_STATE_DIR: d.state, CONSTELLR_SYNC_MIRROR_DIR: d.mirror };
    expect((await runCli(['migrate'], { env })).code).toBe(0);
    const out = path.join(d.root, 'no-such-dir', 'manifest.csv');
    expectOneLine(await runCli(['export', '--format', 'csv', '--output', out], { env }), new RegExp(`--output ${out}: no such file or directory`));
  });

  it('config check -c a missing file', async () => {
    expectOneLine(await runCli(['config', 'check', '-c', '/nonexistent/config.yaml']), /cannot read config file \/nonexistent\/config\.yaml: ENOENT/);
  });
});

// A read-only mount needs a mount namespace: `unshare -rm` (root in a user namespace), as the EROFS
// test of fault-disk-full does.
const canUnshare = (await new Promise<boolean>((resolve) => {
  const c = spawn('unshare', ['-rm', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o ro,size=1m none "$d"'], { stdio: 'ignore' });
  c.on('error', () => resolve(false));
  c.on('close', (code) => resolve(code === 0));
}));

// Skipped (saying so) where user namespaces are off, as fault-disk-full's EROFS test is.
if (!canUnshare) console.log('cli-os-errors: unshare -rm is unavailable here; the read-only filesystem tests are skipped');
describe.skipIf(!canUnshare)('a read-only filesystem: one line naming the path, exit 2 (in a mount namespace)', () => {
  it('export --output, migrate, sync, demo on a read-only mount', async () => {
    const d = await dirsFor();
    const ro = path.join(d.root, 'ro');
    await fsp.mkdir(ro);
    const env = { CONSTELLR_SYNC_STATE_DIR: d.state, CONSTELLR_SYNC_MIRROR_DIR: d.mirror, CONSTELLR_API_KEY: 'k-0123456789', CONSTELLR_API_URL: 'http://127.0.0.1:9' };
    expect((await runCli(['migrate'], { env })).code).toBe(0);
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const node = `${q(process.execPath)} ${q(CLI_MAIN)}`;
    const cases: [string, RegExp][] = [
      [`export --output ${q(path.join(ro, 'm.csv'))}`, new RegExp(`--output ${path.join(ro, 'm.csv')}: read-only filesystem \\(EROFS\\)`)],
      [`migrate --state-dir ${q(path.join(ro, 'state'))}`, new RegExp(`${path.join(ro, 'state')}: `)],
      [`sync --state-dir ${q(ro)}`, new RegExp(`cannot use the state directory ${ro}: `)],
      [`demo --state-dir ${q(path.join(ro, 'st'))} --mirror-dir ${q(path.join(d.root, 'dm'))}`, new RegExp(`cannot use the state directory ${path.join(ro, 'st')}: `)],
    ];
    for (const [cmd, message] of cases) {
      const r = await inMountNamespace(`mount -t tmpfs -o ro,size=1m none ${q(ro)} && exec ${node} ${cmd}`, env);
      expect({ cmd, code: r.code }, r.stderr).toEqual({ cmd, code: 2 });
      expect(r.stderr, cmd).toMatch(message);
      expect(r.stderr + r.stdout, cmd).not.toMatch(STACK);
    }
  });
  it('an existing state on a mount that became read-only: migrate, verify --repair, retry, status, run say which directory, exit 2', async () => {
    const d = await dirsFor();
    const mnt = path.join(d.root, 'mnt');
    await fsp.mkdir(mnt);
    const env = { CONSTELLR_SYNC_MIRROR_DIR: path.join(mnt, 'mirror'), CONSTELLR_API_KEY: 'k-0123456789', CONSTELLR_API_URL: 'http://127.0.0.1:9' };
    expect((await runCli(['migrate', '--state-dir', d.state], { env })).code).toBe(0);
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const node = `${q(process.execPath)} ${q(CLI_MAIN)}`;
    const st = path.join(mnt, 'state');
    for (const cmd of ['migrate', 'verify --repair', 'retry --failed', 'status', 'run']) {
      const script = `mount -t tmpfs -o size=4m none ${q(mnt)} && cp -r ${q(d.state)} ${q(st)} && mkdir ${q(path.join(mnt, 'mirror'))} && mount -o remount,ro ${q(mnt)} && exec ${node} ${cmd} --state-dir ${q(st)}`;
      const r = await inMountNamespace(script, env);
      expect({ cmd, code: r.code }, r.stderr).toEqual({ cmd, code: 2 });
      expect(r.stderr, cmd).toMatch(new RegExp(`cannot use the state directory ${st}: `));
      expect(r.stderr + r.stdout, cmd).not.toMatch(STACK);
    }
  });
});
