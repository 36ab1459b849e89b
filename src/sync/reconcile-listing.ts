// Reconciliation: a full listing (no lastModifiedAfter) that finds keys no longer listed remotely and
// anything the incremental polls missed. Deletions are applied only after the whole listing finished
// without an error, and never more than maxDelete in one run: above it nothing at all is changed.
import { promises as fsp } from 'node:fs';
import { classifyError } from '../errors.js';
import { recordListedItems, type ListedItems, type ListingDeps } from './listing-shared.js';
import { lstatOrNull } from '../mirror/fs-safe.js';
import { moveToTrash, removeEmptyFolders, safeExistingPath } from '../mirror/layout.js';
import { listPages } from './listing.js';
import { isFolderPath } from '../lib/key-kind.js';
import type { Job, ReconcileStore } from '../store/types.js';

export type DeletePolicy = 'keep' | 'trash' | 'delete';
export type MaxDelete = { count: number } | { percent: number };

export interface ReconcileSettings {
  pageSize: number;
  pageRetries: number;
  pageRetryMinMs?: number;
  deletePolicy: DeletePolicy;
  maxDelete: MaxDelete;
  /** Fail fast when the API cannot be reached at all (one-shot commands; see listing.ts). */
  unreachable?: { attempts: number; afterMs: number } | undefined;
  /** sync.maxListingPages: more pages than this stop the reconcile (a listing that never ends). */
  maxPages?: number;
  /** STAC: a folder a removal leaves empty goes too (an item's folder, then its collection's). */
  pruneFolders?: boolean;
}

export interface ReconcileDeps extends ListingDeps {
  store: ReconcileStore;
  root: string;
  settings: ReconcileSettings;
  /** STAC with stac.catalog: the mirror's catalog (keeps the listed items; told before a file is removed). */
  catalog?: ListedItems | null;
  /** state.dir: no space for a file under it is the state's disk (state_full), not the mirror's. */
  stateDir?: string | undefined;
}

export interface ReconcileResult {
  id: number;
  policy: DeletePolicy;
  listed: number;
  /** New or changed versions queued (what incremental polls missed). */
  queued: number;
  /** Known keys the listing no longer returned. */
  missing: number;
  /** The most that may be applied this run. */
  limit: number;
  /** True when missing > limit: nothing was marked or removed. */
  guarded: boolean;
  /** Keys marked deleted_remote. */
  applied: number;
  /** Files moved to the trash or deleted. */
  removedFiles: number;
  /** Keys whose file could not be removed (left for the next reconcile). */
  errors: number;
  durationMs: number;
}

/** The maxDelete limit for `tracked` known keys: a count, or a percentage rounded down. */
export function deleteLimit(max: MaxDelete, tracked: number): number {
  return 'count' in max ? max.count : Math.floor((tracked * max.percent) / 100);
}

export function formatMaxDelete(max: MaxDelete): string {
  return 'count' in max ? String(max.count) : `${max.percent}%`;
}

export async function reconcileOnce(deps: ReconcileDeps): Promise<ReconcileResult> {
  const { api, store, logger, clock, settings } = deps;
  const started = clock();
  const id = await store.startReconcile(started, settings.deletePolicy);
  // maxDelete as a percentage is of the keys known before this listing: its own new keys would
  // otherwise raise the limit (40 new keys make 10 % of 10 known keys a limit of 5 instead of 1).
  const tracked = await store.trackedCount();
  const totals = { listed: 0, queued: 0 };
  logger.info({ reconcile: id, deletePolicy: settings.deletePolicy, maxDelete: formatMaxDelete(settings.maxDelete) }, 'reconcile started (full listing)');
  try {
    const pages = listPages({
      api,
      after: null,
      pageSize: settings.pageSize,
      retries: settings.pageRetries,
      retryMinMs: settings.pageRetryMinMs,
      signal: deps.signal,
      logger,
      what: 'reconcile',
      unreachable: settings.unreachable,
      maxPages: settings.maxPages,
    });
    for await (const page of pages) {
      const wanted = deps.accept ? page.items.filter((a) => deps.accept!(a)) : page.items;
      await recordListedItems(deps.catalog, page.records, wanted);
      const r = await store.upsertPage(wanted, clock());
      await store.markListed(
        page.items.map((a) => a.key),
        id,
      );
      totals.listed += page.items.length;
      totals.queued += r.inserted + r.changed;
      deps.onPage?.({ inserted: r.inserted, changed: r.changed, listed: page.items.length });
    }
  } catch (err) {
    const e = classifyError(err, 'reconcile', deps.stateDir);
    await store
      .finishReconcile(id, { now: clock(), ...totals, missing: 0, applied: 0, guarded: false, error: { message: e.message, errorClass: e.errorClass } })
      .catch(() => undefined);
    logger.error({ reconcile: id, errorClass: e.errorClass, err: e.message }, 'reconcile listing failed; nothing was deleted');
    throw e;
  }

  // The listing is complete and error-free: only now may anything be marked or removed. Keys an
  // earlier `keep` reconcile marked, whose files are still there, are removed by trash or delete.
  const candidates = (await store.reconcileCandidates(id)).filter((j) => j.remoteDeletedAt === null || settings.deletePolicy !== 'keep');
  const limit = deleteLimit(settings.maxDelete, tracked);
  const result: ReconcileResult = {
    id,
    policy: settings.deletePolicy,
    ...totals,
    missing: candidates.length,
    limit,
    guarded: false,
    applied: 0,
    removedFiles: 0,
    errors: 0,
    durationMs: 0,
  };
  if (candidates.length > limit) {
    result.guarded = true;
    logger.warn(
      { reconcile: id, missing: candidates.length, limit, tracked, maxDelete: formatMaxDelete(settings.maxDelete) },
      `${candidates.length} known keys are no longer listed, more than mirror.maxDelete allows (${limit}); nothing was marked or deleted. Check the account, then raise maxDelete (e.g. reconcile --max-delete ${candidates.length}) to apply`,
    );
  } else {
    // The catalog lets go of these files first (item links, then item JSON): no link ever dangles.
    if (settings.deletePolicy !== 'keep' && deps.catalog && candidates.length > 0) {
      try {
        await deps.catalog.beforeRemove(candidates);
      } catch (err) {
        logger.error({ reconcile: id, err: (err as Error).message }, 'the STAC catalog could not drop the deleted items; nothing is removed this run');
        result.errors = candidates.length;
        candidates.length = 0;
      }
    }
    for (const job of candidates) {
      if (deps.signal?.aborted) break;
      try {
        const { removed, moved } = await applyDeletion(deps, job);
        if (await store.markRemoteDeleted(job.id, { now: clock(), removed })) {
          result.applied++;
          if (moved) result.removedFiles++;
        }
      } catch (err) {
        result.errors++;
        logger.error({ key: job.key, err: (err as Error).message }, 'could not remove the file of a deleted key; it is tried again by the next reconcile');
      }
    }
  }
  result.durationMs = clock() - started;
  await store.finishReconcile(id, { now: clock(), listed: result.listed, queued: result.queued, missing: result.missing, applied: result.applied, guarded: result.guarded });
  logger.info(
    { reconcile: id, listed: result.listed, queued: result.queued, missing: result.missing, applied: result.applied, removedFiles: result.removedFiles, guarded: result.guarded, durationMs: result.durationMs },
    'reconcile finished',
  );
  return result;
}

/** Apply the delete policy to one key's file: `removed` is recorded in the state, `moved` says a file was touched. */
async function applyDeletion(deps: ReconcileDeps, job: Job): Promise<{ removed: 'trash' | 'delete' | null; moved: boolean }> {
  const policy = deps.settings.deletePolicy;
  const rel = job.localPath;
  // Folder markers' directories are left alone (other keys may live below them).
  if (policy === 'keep' || !rel || isFolderPath(rel)) return { removed: null, moved: false };
  const now = deps.clock();
  let removed: 'trash' | 'delete' | null = null;
  if (policy === 'trash') {
    const dest = await moveToTrash(deps.root, rel, now);
    if (dest) {
      removed = 'trash';
      deps.logger.info({ key: job.key, path: rel, trash: dest }, 'moved to the trash: no longer listed remotely');
    }
  } else {
    const abs = await safeExistingPath(deps.root, rel);
    const st = abs ? await lstatOrNull(abs) : null;
    if (abs && st && !st.isDirectory()) {
      await fsp.rm(abs, { force: true });
      removed = 'delete';
      deps.logger.info({ key: job.key, path: rel }, 'deleted: no longer listed remotely');
    }
  }
  if (removed && deps.settings.pruneFolders) await removeEmptyFolders(deps.root, rel);
  if (removed) {
    await deps.store
      .recordEvent({ event: 'deleted', key: job.key, path: rel, size: job.bytesWritten, lastModifiedMs: job.remoteModifiedMs, sha256: job.sha256 }, now)
      .catch((e: unknown) => deps.logger.warn({ key: job.key, err: (e as Error).message }, 'could not record the deletion event'));
  }
  // A file already gone locally is still marked, and its path released.
  return { removed: removed ?? policy, moved: removed !== null };
}
