// Helpers for the fault-tolerance tests (issue 3): a long-running child process of the built CLI
// with its JSON log lines, the state of staging, and an exact end-state check of a mirror.
// Build first: `npx tsc -p .`.
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stagingDir, stagingPaths } from '../../src/download/staging.js';
import { startSimulator, type AssetInput, type AssetInventory, type Simulator } from '../../src/simulator/index.js';
import type { Cursor, Job, JobState } from '../../src/store/types.js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { CLI_MAIN, REPO_ROOT, mirrorFiles, openStore, verifyMirror, type TempDirs } from './harness.js';

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Parsed JSON log lines seen so far (non-JSON lines are skipped). */
  logs(): LogLine[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resolves with the first log line matching `pred` (already seen or future); rejects on timeout or exit. */
  waitLog(pred: (l: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  kill(sig?: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();

/** Spawn any program with the test's minimal environment (PATH/HOME plus `env`). */
export function spawnProc(file: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(file, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  let err = '';
  const parsed: LogLine[] = [];
  let partial = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      try {
        parsed.push(JSON.parse(l) as LogLine);
      } catch {
        /* not a log line */
      }
    }
    for (const f of listeners) f();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.on('close', (code, signal) => {
      live.delete(child);
      for (const f of listeners) f();
      resolve({ code, signal, at: Date.now() });
    });
  });
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    logs: () => parsed,
    exited,
    kill: (sig = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
    waitLog(pred, timeoutMs = 20_000, what = 'a log line') {
      return new Promise<LogLine>((resolve, reject) => {
        const check = () => {
          const hit = parsed.find(pred);
          if (hit) return finish(() => resolve(hit));
          if (done || child.exitCode !== null || child.signalCode !== null)
            return finish(() => reject(new Error(`process exited before ${what}\nstderr: ${err.slice(-2000)}\nstdout tail: ${out.slice(-3000)}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nstdout tail: ${out.slice(-3000)}`))), timeoutMs);
        const finish = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** `node dist/cli/main.js <args>` as a long-running child. */
export function spawnCli(args: string[], env: Record<string, string> = {}): Proc {
  return spawnProc(process.execPath, [CLI_MAIN, ...args], env);
}

/** SIGKILL every child still running (afterEach/afterAll). */
export async function killAll(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const c of live) {
    waits.push(new Promise((r) => c.once('close', r)));
    c.kill('SIGKILL');
  }
  await Promise.all(waits);
}

/**
 * Write a config file (JSON is valid YAML) and return the CLI flags that use it. The scheduled
 * reconcile is off unless `config.sync.reconcileSchedule` asks for one: the default (03:30 daily)
 * would start a full listing in the middle of any test that happens to run across it.
 */
export async function configFlags(
  dir: string,
  o: { sim: Pick<Simulator, 'url'>; mirror: string; state: string; config?: Record<string, unknown>; name?: string },
): Promise<string[]> {
  const file = path.join(dir, `${o.name ?? 'config'}.yaml`);
  // the ops endpoint's fixed default port would collide between concurrent daemons
  const sync = { reconcileSchedule: 'off', ...(o.config?.sync as Record<string, unknown> | undefined) };
  await fsp.writeFile(file, JSON.stringify({ http: { enabled: false }, ...o.config, sync }));
  return ['--config', file, '--api-url', o.sim.url, '--mirror-dir', o.mirror, '--state-dir', o.state];
}

export function credentials(sim: Pick<Simulator, 'username' | 'password'>): Record<string, string> {
  return { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password };
}

/** Assets with simple keys and distinct LastModified seconds (older first), all in the past. */
export function makeAssets(prefix: string, sizes: number[], baseMs = Math.floor(Date.now() / 1000) * 1000 - 86_400_000): AssetInput[] {
  return sizes.map((size, i) => ({ key: `${prefix}/f-${String(i).padStart(4, '0')}.bin`, size, lastModified: baseMs + i * 1000, seed: `${prefix}-${i}` }));
}

/** File names in staging ([] when the directory does not exist). */
export async function stagingFiles(mirror: string): Promise<string[]> {
  return (await fsp.readdir(stagingDir(mirror)).catch(() => [] as string[])).sort();
}

export interface StateSnapshot {
  counts: Record<JobState, number>;
  cursor: Cursor;
  jobs: Map<string, Job>;
}

/** Read the daemon's state (a separate connection; safe while it runs). */
export async function readState(stateDir: string, keys: Iterable<string>): Promise<StateSnapshot> {
  const s = openStore(stateDir);
  try {
    const jobs = new Map<string, Job>();
    for (const k of keys) {
      const j = await s.getJob(k);
      if (j) jobs.set(k, j);
    }
    return { counts: await s.counts(), cursor: await s.getCursor(), jobs };
  } finally {
    await s.close();
  }
}

/**
 * Bytes of the inventory the mirror already holds for good: done jobs count whole, resumable
 * partials (matching record) count their length. What a resuming restart must not fetch again.
 */
export async function bytesHeld(mirror: string, state: StateSnapshot, inventory: AssetInventory): Promise<number> {
  let held = 0;
  for (const a of inventory) {
    const j = state.jobs.get(a.key);
    if (j?.state === 'done' && j.remoteModifiedMs === a.lastModifiedMs) {
      held += a.size;
      continue;
    }
    const p = stagingPaths(mirror, a.key, a.lastModifiedMs, a.size);
    const [st, rec] = await Promise.all([fsp.stat(p.partial).catch(() => null), fsp.readFile(p.record, 'utf8').catch(() => null)]);
    if (st && rec) held += st.size;
  }
  return held;
}

/**
 * The end state every fault test wants: the mirror holds exactly the inventory (sha256, size, mtime),
 * no other file outside `.constellr-sync/`, staging is empty, every job is done, and the HWM is the
 * newest LastModified. Returns problems ([] = clean).
 */
export async function endStateProblems(mirror: string, stateDir: string, inventory: AssetInventory): Promise<string[]> {
  const problems = await verifyMirror(mirror, inventory);
  const files = await mirrorFiles(mirror);
  const keys = new Set([...inventory].map((a) => a.key));
  for (const f of files.keys()) if (!keys.has(f)) problems.push(`unexpected file outside staging: ${f}`);
  const staged = await stagingFiles(mirror);
  if (staged.length > 0) problems.push(`staging is not empty: ${staged.join(', ')}`);
  const st = await readState(stateDir, keys);
  if (st.counts.done !== inventory.size) problems.push(`job counts ${JSON.stringify(st.counts)}, expected ${inventory.size} done`);
  const newest = Math.max(...[...inventory].map((a) => a.lastModifiedMs));
  if (st.cursor.hwmMs !== newest) problems.push(`HWM ${st.cursor.hwmMs} != newest LastModified ${newest}`);
  return problems;
}

/** Log lines whose msg includes `text` (and, optionally, whose `reason` field equals `reason`). */
export function linesWith(p: Proc, text: string, reason?: string): LogLine[] {
  return p.logs().filter((l) => typeof l.msg === 'string' && l.msg.includes(text) && (reason === undefined || l.reason === reason));
}

/** One `constellr-sync sync` child with `env`, killed by itself at `crashAt` when given; its exit and output. */
export async function runSyncChild(args: string[], env: Record<string, string>, crashAt?: string) {
  const p = spawnCli(['sync', ...args], { ...env, ...(crashAt ? { CONSTELLR_SYNC_CRASH_AT: crashAt } : {}) });
  const r = await p.exited;
  return { ...r, stderr: p.stderr(), stdout: p.stdout() };
}

/**
 * The scaffold of a crash-test file: its simulator (started before the file's tests, closed after),
 * child daemons killed after each test, temp dirs removed at the end, and `runSync` against that
 * simulator (optionally armed to SIGKILL itself at a named crash point).
 */
export function crashTestBed(assets: () => AssetInput[]): {
  readonly sim: Simulator;
  readonly cleanup: TempDirs[];
  runSync(args: string[], crashAt?: string): ReturnType<typeof runSyncChild>;
} {
  let sim: Simulator | undefined;
  const cleanup: TempDirs[] = [];
  beforeAll(async () => {
    sim = await startSimulator({ assets: assets(), adminPort: false });
  });
  afterEach(async () => {
    await killAll();
  });
  afterAll(async () => {
    await sim?.close();
    await Promise.all(cleanup.map((d) => d.cleanup()));
  });
  return {
    get sim() {
      if (!sim) throw new Error('the simulator starts in beforeAll');
      return sim;
    },
    cleanup,
    runSync: (args, crashAt) => runSyncChild(args, credentials(sim!), crashAt),
  };
}
