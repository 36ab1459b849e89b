// Where a job's file goes when its key could not name it: a STAC asset whose href is an opaque object
// id (or has no path) is keyed `<collection>/<item id>/<asset key><ext>`, and its file is named as the
// server names it (Content-Disposition, else the answering URL's last path segment), which is what
// Constellr's download script writes. The name is asked once, before the first download; every later
// version goes to the path the first one got, so a file keeps its name across versions.
import type { Source } from '../api/source.js';
import { resolveKey, type MirrorTarget, type SegmentRule } from '../mirror/paths.js';
import type { ClaimedJob } from '../store/types.js';

/** The server-named place of the job's file, or null when its key names it (or the server gives no usable name). */
export async function serverNamedTarget(api: Source, root: string, job: ClaimedJob, signal: AbortSignal, rule?: SegmentRule): Promise<MirrorTarget | null> {
  if (!api.fileName || !api.namedByServer?.(job)) return null;
  // The path the first version got (the layout's rule was applied then: not again).
  if (job.localPath !== null && !job.localPath.endsWith('/')) return resolveOrNull(root, job.localPath, job.remoteSize);
  // The name is one plain file name (api/file-name.ts): no `/` or `\`, no control character, not `..`.
  const name = await api.fileName(job, signal);
  if (name === null) return null;
  // The layout's rule applies to the server's name too: it never takes a catalogue file's name.
  return resolveOrNull(root, `${job.key.slice(0, job.key.lastIndexOf('/') + 1)}${name}`, job.remoteSize, rule);
}

function resolveOrNull(root: string, key: string, size: number, rule?: SegmentRule): MirrorTarget | null {
  try {
    return resolveKey(root, key, size, rule);
  } catch {
    return null; // refused by the mirror's path rules: the key's own name is used
  }
}
