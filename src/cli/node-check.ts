// Which Node.js runs the command line, checked before anything else is evaluated: main.ts imports this
// module first, and it imports only Node built-ins and errors.ts (which imports nothing), so on an
// unsupported Node the user reads one line saying which Node to use and how, not a crash from deep
// inside better-sqlite3 or undici. The supported lines are package.json's `engines.node`, the one
// list that .ci/run tests (README "Requirements").
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT } from '../errors.js';

type Version = readonly [number, number, number];

function parseVersion(v: string): Version | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/**
 * The caret ranges of an `engines.node` value (`^22.23.5 || ^24.22.3`): each is a line (major) and
 * its lowest release. Any other form is refused, so the check never silently accepts a range it
 * cannot read.
 */
export function parseEngines(range: string): Version[] {
  return range.split('||').map((part) => {
    const m = /^\s*\^(\d+\.\d+\.\d+)\s*$/.exec(part);
    const v = m ? parseVersion(m[1]!) : null;
    if (!v) throw new Error(`engines.node: "${part.trim()}" is not a caret range (^MAJOR.MINOR.PATCH)`);
    return v;
  });
}

export function satisfies(version: string, ranges: readonly Version[]): boolean {
  const v = parseVersion(version);
  if (!v) return false;
  return ranges.some(([major, minor, patch]) =>
    v[0] === major && (v[1] > minor || (v[1] === minor && v[2] >= patch)));
}

/** "22, 24 or 26" */
function lines(ranges: readonly Version[]): string {
  const majors = ranges.map((r) => String(r[0]));
  return majors.length > 1 ? `${majors.slice(0, -1).join(', ')} or ${majors.at(-1)}` : majors.join('');
}

/**
 * The one line to print when `version` is not supported, or null when it is. `packageRoot` is where
 * package.json is; when `npm ci` brought the primary line there (node_modules/.bin/node), the line
 * gives the commands that use it.
 */
export function nodeVersionProblem(version: string, execPath: string, packageRoot: string): string | null {
  const engines = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
    engines?: { node?: string };
  }).engines?.node;
  if (!engines) return null;
  const ranges = parseEngines(engines);
  if (satisfies(version, ranges)) return null;
  const wanted = `constellr-sync needs Node.js ${lines(ranges)} (${engines}); this is Node.js ${version.replace(/^v/, '')} (${execPath}).`;
  const bundled = path.join(packageRoot, 'node_modules', '.bin', 'node');
  if (existsSync(bundled)) {
    const main = path.join(packageRoot, 'dist', 'cli', 'main.js');
    return `${wanted} Use the Node.js that npm ci installed: \`npx constellr-sync <command>\` in ${packageRoot}, or \`${bundled} ${main} <command>\`.`;
  }
  return `${wanted} Install a supported Node.js, or run \`npm ci\` in ${packageRoot} (it installs one into node_modules/.bin on Linux x64) and use \`npx constellr-sync <command>\`.`;
}

const problem = nodeVersionProblem(
  process.versions.node,
  process.execPath,
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'),
);
if (problem !== null) {
  process.stderr.write(`${problem}\n`);
  process.exit(EXIT.USAGE);
}
