// `run` daemons as child processes sharing one PostgreSQL schema and one mirror (the replica tests).
// Each replica has its own state directory (its instance lock); stdout and stderr are kept as lines.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Simulator } from '../../src/simulator/index.js';
import { CLI_MAIN } from './harness.js';
import { TEST_DATABASE_URL } from './postgres.js';

export interface Replica {
  name: string;
  child: ChildProcess;
  log: string[];
  exited: Promise<number | null>;
}

export interface ReplicaSetup {
  /** Working directory; replica state goes to <tmp>/state-<name>. */
  tmp: string;
  config: string;
  mirror: string;
  schema: string;
  sim: Pick<Simulator, 'url' | 'username' | 'password'>;
  /** Extra environment (e.g. CONSTELLR_SYNC_STALL_AT for one replica). */
  env?: Record<string, string>;
}

export function startReplica(name: string, s: ReplicaSetup): Replica {
  const child = spawn(process.execPath, [CLI_MAIN, 'run', '--config', s.config], {
    cwd: s.tmp,
    env: {
      ...process.env,
      CONSTELLR_API_URL: s.sim.url,
      CONSTELLR_USERNAME: s.sim.username,
      CONSTELLR_PASSWORD: s.sim.password,
      CONSTELLR_SYNC_MIRROR_DIR: s.mirror,
      CONSTELLR_SYNC_STATE_DIR: path.join(s.tmp, `state-${name}`),
      CONSTELLR_SYNC_DATABASE_URL: TEST_DATABASE_URL,
      CONSTELLR_SYNC_DATABASE_SCHEMA: s.schema,
      // no 03:30 reconcile in the middle of a test (s.env can ask for a schedule)
      CONSTELLR_SYNC_RECONCILE_SCHEDULE: 'off',
      ...s.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  let buf = '';
  const take = (d: Buffer) => {
    buf += d.toString('utf8');
    const lines = buf.split('\n');
    buf = lines.pop()!;
    log.push(...lines);
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { name, child, log, exited };
}
