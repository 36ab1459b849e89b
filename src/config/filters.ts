// Which listed assets this mirror wants: include/exclude globs on keys, a size window, and `since`.
// Filtered-out keys are not queued. A small glob matcher of our own (node:path.matchesGlob is
// experimental on Node 20/22 and matches platform paths, not keys):
//   *      any characters except '/'          ?      one character except '/'
//   **     as a whole segment: zero or more segments ('**/x' matches 'x' and 'a/b/x'; 'a/**'
//          matches everything below 'a/'); elsewhere like '*'
//   [abc] [a-z] [!abc]   one character of (not of) the set        {tif,tiff}   alternatives
//   \x     the character x literally
// A pattern matches the whole key; '*.tif' matches only top-level keys, use '**/*.tif' for any depth.
import type { ListedSize } from '../lib/size.js';

export class GlobError extends Error {}

function escapeRe(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

/** Translate one glob into an anchored regular expression. Throws GlobError on a malformed pattern. */
export function globToRegExp(glob: string): RegExp {
  if (glob.length === 0) throw new GlobError('empty pattern');
  let re = '';
  let braceDepth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\') {
      const next = glob[i + 1];
      if (next === undefined) throw new GlobError(`${JSON.stringify(glob)}: trailing backslash`);
      re += escapeRe(next);
      i++;
    } else if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        const after = glob[i + 2];
        i++;
        if (atStart && after === '/') {
          re += '(?:.*/)?';
          i++;
        } else if (atStart && after === undefined) {
          re += '.*';
        } else {
          re += '[^/]*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) throw new GlobError(`${JSON.stringify(glob)}: unclosed [`);
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      const cls = body.replace(/[\\\]^]/g, (m) => `\\${m}`);
      re += negate ? `[^/${cls}]` : `[${cls}]`;
      i = end;
    } else if (c === '{') {
      braceDepth++;
      re += '(?:';
    } else if (c === '}' && braceDepth > 0) {
      braceDepth--;
      re += ')';
    } else if (c === ',' && braceDepth > 0) {
      re += '|';
    } else {
      re += escapeRe(c);
    }
  }
  if (braceDepth > 0) throw new GlobError(`${JSON.stringify(glob)}: unclosed {`);
  try {
    return new RegExp(`^${re}$`, 'su');
  } catch (e) {
    throw new GlobError(`${JSON.stringify(glob)}: ${(e as Error).message}`);
  }
}

export function matchesGlob(key: string, glob: string): boolean {
  return globToRegExp(glob).test(key);
}

export interface FilterSettings {
  include: readonly string[];
  exclude: readonly string[];
  minSize: number;
  maxSize: number | null;
  /** Earliest LastModified (sync.since); null means everything. */
  sinceMs: number | null;
}

/** What a filter looks at: the key, its size (null when the listing did not say) and its LastModified. */
export interface FilterSubject {
  readonly key: string;
  readonly size: ListedSize;
  readonly lastModifiedMs: number;
}

export type AssetFilter = ((asset: FilterSubject) => boolean) & { readonly isAll: boolean };

/**
 * Compile filters into a predicate: a key is kept when it matches an include pattern (or none are
 * given), matches no exclude pattern, its Size is within [minSize, maxSize], and its LastModified is
 * not before `since`.
 */
export function compileFilter(s: FilterSettings): AssetFilter {
  const inc = s.include.map(globToRegExp);
  const exc = s.exclude.map(globToRegExp);
  const isAll = inc.length === 0 && exc.length === 0 && s.minSize <= 0 && s.maxSize === null && s.sinceMs === null;
  const fn = (a: FilterSubject): boolean => {
    if (s.sinceMs !== null && a.lastModifiedMs < s.sinceMs) return false;
    // A size the listing does not know passes the size window.
    if (a.size !== null && a.size < s.minSize) return false;
    if (s.maxSize !== null && a.size !== null && a.size > s.maxSize) return false;
    if (inc.length > 0 && !inc.some((r) => r.test(a.key))) return false;
    return !exc.some((r) => r.test(a.key));
  };
  return Object.assign(fn, { isAll });
}
