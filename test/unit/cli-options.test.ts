// The flags of every command come from one definition (src/cli/options.ts): each command's parser
// takes its options from there, its --help lists them from there, and the README's command table and
// its table of configuration flags are generated from there. Every flag the README names is accepted
// by the command it is given to, and every flag a parser accepts is documented.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FLAG_MAP } from '../../src/config/load.js';
import * as defs from '../../src/cli/options.js';
import { COMMAND_OPTIONS, CONFIG_OPTIONS, optionsHelp, withReadmeOptions } from '../../src/cli/options.js';
import { REPO_ROOT } from '../helpers/harness.js';

const README = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const COMMANDS_DIR = path.join(REPO_ROOT, 'src', 'cli', 'commands');

/** Flags of other programs the README shows (docker, systemctl, npm, stac-validator, the bench scripts…). */
const FOREIGN = new Set(['--rm', '--restart', '--name', '--entrypoint', '--build-arg', '--user', '--init', '--now', '--plane', '--smoke', '--queue', '--only', '--schema-map']);

const accepts = (command: string, flag: string): boolean => {
  const o = COMMAND_OPTIONS[command]!.options[flag];
  if (!o) return false;
  const args = o.type === 'string' ? [`--${flag}`, 'x'] : [`--${flag}`];
  parseArgs({ args, options: COMMAND_OPTIONS[command]!.options, strict: true });
  return true;
};

describe('one definition of the flags', () => {
  it('every command parses with its options from src/cli/options.ts', () => {
    const byFile: Record<string, string> = { config: 'config.ts', run: 'run.ts', sync: 'sync.ts', status: 'status.ts', migrate: 'migrate.ts', simulate: 'simulate.ts', demo: 'demo.ts', reconcile: 'reconcile.ts', verify: 'verify.ts', export: 'export.ts', ls: 'ls.ts', retry: 'retry.ts' };
    expect(Object.keys(byFile).sort()).toEqual(Object.keys(COMMAND_OPTIONS).sort());
    for (const [command, file] of Object.entries(byFile)) {
      const src = readFileSync(path.join(COMMANDS_DIR, file), 'utf8');
      const calls = [...src.matchAll(/parseArgs\(\{[^;]*?options: ([A-Z_]+)/g)].map((m) => m[1]!);
      expect(calls, file).toHaveLength(1);
      expect((defs as unknown as Record<string, unknown>)[calls[0]!], `${file} parses with ${calls[0]}`).toBe(COMMAND_OPTIONS[command]!.options);
    }
  });

  it('the configuration flags are exactly config plus one per FLAG_MAP entry, each naming its key', () => {
    expect(Object.keys(CONFIG_OPTIONS).sort()).toEqual(['config', ...Object.keys(FLAG_MAP)].sort());
    for (const [flag, key] of Object.entries(FLAG_MAP)) expect(CONFIG_OPTIONS[flag]!.help).toContain(key);
  });

  it('--help lists every option the parser accepts, with a description', () => {
    for (const [command, c] of Object.entries(COMMAND_OPTIONS)) {
      const help = optionsHelp(command);
      for (const [flag, o] of Object.entries(c.options)) {
        expect(help, `${command} --help`).toMatch(new RegExp(`--${flag}\\b`));
        expect(o.help.length, `${command} --${flag}`).toBeGreaterThan(5);
      }
    }
  });

  it('the README is generated from the definition (run npm run docs:commands after changing a flag)', () => {
    expect(withReadmeOptions(README)).toBe(README);
    // …and so documents every flag each parser accepts: its own options in its row, the configuration
    // flags in their table.
    for (const [command, c] of Object.entries(COMMAND_OPTIONS)) {
      const row = README.split('\n').find((l) => l.startsWith(`| \`${command === 'config' ? 'config check' : command}\` |`));
      expect(row, command).toBeDefined();
      for (const flag of Object.keys(c.options)) {
        if (flag === 'help') continue;
        if (c.takesConfig && flag in CONFIG_OPTIONS) expect(README).toContain(`| \`${CONFIG_OPTIONS[flag]!.short ? `-${CONFIG_OPTIONS[flag]!.short}, ` : ''}--${flag}`);
        else expect(row, `${command} --${flag}`).toContain(`\`--${flag}`);
      }
      if (c.takesConfig) expect(row).toContain('config flags');
    }
  });

  it('every flag the README gives to a command is accepted by that command', () => {
    let checked = 0;
    for (const line of README.split('\n')) {
      const m = /(?:main\.js|constellr-sync) (run|sync|status|migrate|simulate|demo|reconcile|verify|export|ls|config|retry)\b(.*)/.exec(line);
      if (!m) continue;
      const command = m[1]!;
      // Up to a shell separator or the end of the inline code.
      const rest = m[2]!.split(/[|;&`#]/)[0]!;
      for (const f of rest.matchAll(/(?:^|\s)--([a-z][a-z0-9-]*)/g)) {
        checked++;
        expect(accepts(command, f[1]!), `README line: ${line.trim()}\n${command} does not accept --${f[1]}`).toBe(true);
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('every flag the README names anywhere is one some command accepts (or another program\'s)', () => {
    const all = new Set(Object.values(COMMAND_OPTIONS).flatMap((c) => Object.keys(c.options)));
    const named = new Set([...README.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
    const unknown = [...named].filter((f) => !all.has(f) && !FOREIGN.has(`--${f}`));
    expect(unknown).toEqual([]);
  });

  it('the top-level help names the API key and every command', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist', 'cli', 'main.js'), '--help'], { encoding: 'utf8' });
    expect(r.stdout).toContain('CONSTELLR_API_KEY');
    for (const command of Object.keys(COMMAND_OPTIONS)) expect(r.stdout).toMatch(new RegExp(`^  ${command} +\\S`, 'm'));
    expect(r.stdout).toContain('stac-ndjson');
  });
});
