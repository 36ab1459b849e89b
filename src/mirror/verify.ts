// Verify the mirror against the state: every done file exists, is a regular file (reached without a
// symlink), has the recorded size and mtime = LastModified, and with `deep` the recorded sha256.
// With `repair`, whatever is missing or different is queued again (attempts reset).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { isFolderPath } from '../lib/key-kind.js';
import { lstatOrNull } from './fs-safe.js';
import { safeExistingPath } from './layout.js';
import type { Job, OperatorStore } from '../store/types.js';

export type VerifyProblem = 'missing' | 'not_a_file' | 'not_a_directory' | 'size' | 'mtime' | 'sha256';

export interface VerifyIssue {
  key: string;
  path: string;
  problem: VerifyProblem;
  detail: string;
}

export interface VerifyResult {
  checked: number;
  issues: VerifyIssue[];
  requeued: number;
  clean: boolean;
}

export interface VerifyOptions {
  store: OperatorStore;
  root: string;
  deep?: boolean;
  repair?: boolean;
  clock?: () => number;
  /** Filesystems with coarse timestamps (FAT: 2 s) need a tolerance. */
  mtimeToleranceMs?: number;
  onIssue?(issue: VerifyIssue): void;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    const rs = createReadStream(file, { highWaterMark: 1 << 20 });
    rs.on('data', (c) => h.update(c as Buffer));
    rs.on('error', reject);
    rs.on('end', resolve);
  });
  return h.digest('hex');
}

async function check(job: Job, root: string, deep: boolean, tolerance: number): Promise<VerifyIssue | null> {
  const rel = job.localPath!;
  const issue = (problem: VerifyProblem, detail: string): VerifyIssue => ({ key: job.key, path: rel, problem, detail });
  const abs = await safeExistingPath(root, rel);
  const st = abs ? await lstatOrNull(abs) : null;
  if (!st) return issue('missing', abs ? 'no such file' : 'a directory on the way is missing, a file, or a symlink');
  if (isFolderPath(rel)) return st.isDirectory() ? null : issue('not_a_directory', 'the folder marker is not a directory');
  if (!st.isFile()) return issue('not_a_file', st.isSymbolicLink() ? 'is a symlink' : 'is not a regular file');
  const want = job.bytesWritten ?? job.remoteSize;
  if (st.size !== want) return issue('size', `size ${st.size}, expected ${want}`);
  if (Math.abs(st.mtimeMs - job.remoteModifiedMs) > tolerance)
    return issue('mtime', `mtime ${new Date(st.mtimeMs).toISOString()}, expected ${new Date(job.remoteModifiedMs).toISOString()}`);
  if (deep && job.sha256) {
    const got = await sha256File(abs!);
    if (got !== job.sha256) return issue('sha256', `sha256 ${got}, expected ${job.sha256}`);
  }
  return null;
}

export async function verifyMirror(o: VerifyOptions): Promise<VerifyResult> {
  const clock = o.clock ?? Date.now;
  const tolerance = o.mtimeToleranceMs ?? 1000;
  const result: VerifyResult = { checked: 0, issues: [], requeued: 0, clean: true };
  let after = 0;
  for (;;) {
    const page = await o.store.listJobs(after, 500);
    if (page.length === 0) break;
    after = page[page.length - 1]!.id;
    const bad: number[] = [];
    for (const job of page) {
      // Done files only; removed (trash/delete) ones have no local path any more.
      if (job.state !== 'done' || !job.localPath) continue;
      result.checked++;
      const issue = await check(job, o.root, o.deep ?? false, tolerance);
      if (issue) {
        result.issues.push(issue);
        o.onIssue?.(issue);
        bad.push(job.id);
      }
    }
    if (o.repair && bad.length > 0) {
      result.requeued += await o.store.requeue(bad, { errorClass: 'verify', message: 'queued again by verify --repair (missing or different)' }, clock());
    }
  }
  result.clean = result.issues.length === 0;
  return result;
}
