// Where a job's file goes when its key could not name it: a STAC asset whose href is an opaque object
// id (or has no path) is keyed `<collection>/<item id>/<asset key><ext>`, and its file is named as the
// server names it (Content-Disposition, else the answering URL's last path segment), which is what
// Constellr's download script writes. The name is asked once, before the first download; every later
// version goes to the path the first one got, so a file keeps its name across versions.
import type { Source } from '../api/source.js';
import { resolveKey, type MirrorTarget } from '../mirror/paths.js';
import type { ClaimedJob } from '../store/types.js';

/** The server-named place of the job's file, or null when its key names it (or the server gives no usable name). */
export async function serverNamedTarget(api: Source, root: string, job: ClaimedJob, signal: AbortSignal): Promise<MirrorTarget | null> {
  if (!api.fileName || !api.namedByServer?.(job)) return null;
  if (job.localPath !== null && !job.localPath.endsWith('/')) return resolveOrNull(root, job.localPath, job.remoteSize);
  // The name is one plain file name (api/file-name.ts): no `/` or `\`, no control character, not `..`.
  const name = await api.fileName(job, signal);
  if (name === null) return null;
  return resolveOrNull(root, `${job.key.slice(0, job.key.lastIndexOf('/') + 1)}${name}`, job.remoteSize);
}

function resolveOrNull(root: string, key: string, size: number): MirrorTarget | null {
  try {
    return resolveKey(root, key, size);
  } catch {
    return null; // refused by the mirror's path rules: the key's own name is used
  }
}
