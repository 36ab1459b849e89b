// Group commit of small downloads (issue 13 §1). Workers hand a finished small file to the batcher
// and wait; a batch closes when it is full, when every busy worker has joined it, or when its oldest
// file has waited maxAgeMs. Then, in order: the files are fsynced concurrently, the leases are checked
// (PostgreSQL holds the rows' locks until the commit), the files renamed, their folders fsynced once
// (place.ts), and the `done` rows and their outbox events commit in one transaction.
// A worker learns its outcome only after that: nothing is reported done before it is durable.
import { promises as fsp, constants as C } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Logger } from '../lib/logger.js';
import { crashPoint } from '../lib/crash-point.js';
import { placeGroup, syncGroup, type GroupFile } from './place.js';
import { folderRemovals } from '../mirror/layout.js';
import type { Placed } from './place.js';
import type { CompleteInput, PlacedOutcome, WorkerStore } from '../store/types.js';

export interface CommitBatchOptions {
  store: WorkerStore;
  root: string;
  logger: Logger;
  /** The lease length to extend to at the check (sync.leaseDuration, read per batch). */
  leaseMs: () => number;
  /** Files per batch at most. */
  maxBatch?: number;
  /** How long the first file of a batch waits for others. */
  maxAgeMs?: number;
  /** Workers busy with a job right now: a batch that holds all of them closes at once. */
  busy?: () => number;
  /** A batch did not commit (its files report the error too): the pool hears of a full state disk. */
  onFailed?: (e: unknown) => void;
  /**
   * Keep folders' handles open between batches (FolderHandles). Only when no other process removes
   * and re-creates the mirror's folders: not with PostgreSQL, where replicas share the mirror and one's
   * reconcile may remove a folder another then re-creates, so a kept handle would fsync the old one.
   */
  keepFolderHandles?: boolean;
  /** How long folder checks and kept handles are shared by the batches that follow (FOLDER_CHECK_MS). */
  folderCheckMs?: number;
}

/** A file ready to commit: its job's id and lease token, the file, and what its row records. */
export interface CommitRequest extends GroupFile {
  id: number;
  token: string;
  row: CompleteInput;
}

/** The outcome of one file, as commitPlaced reports it, plus what placing it found. */
export interface CommitResult extends PlacedOutcome {
  file: Placed | null;
}

interface Pending {
  req: CommitRequest;
  resolve: (r: CommitResult) => void;
  reject: (e: unknown) => void;
}

export const DEFAULT_MAX_BATCH = 64;
export const DEFAULT_MAX_AGE_MS = 5;
/**
 * How long the batches share which folders on the files' paths they found real (not symlinks, not
 * files): a folder is checked again after this, as a free-space reading is (sync/pool's probe).
 */
export const FOLDER_CHECK_MS = 1000;

export class CommitBatcher {
  readonly #o: CommitBatchOptions;
  #open: Pending[] = [];
  #timer: NodeJS.Timeout | null = null;
  #checked = { folders: new Set<string>(), since: 0 };
  readonly #handles: FolderHandles | null;
  /** Batches committed and files in them (bench and tests read these). */
  readonly stats = { batches: 0, files: 0 };

  constructor(o: CommitBatchOptions) {
    this.#o = o;
    this.#handles = o.keepFolderHandles ? new FolderHandles(o.folderCheckMs ?? FOLDER_CHECK_MS) : null;
  }

  /** Commit this file with the next batch; resolves once the batch is durable (or rejects with this file's error). */
  commit(req: CommitRequest): Promise<CommitResult> {
    return new Promise<CommitResult>((resolve, reject) => {
      this.#open.push({ req, resolve, reject });
      const full = this.#open.length >= (this.#o.maxBatch ?? DEFAULT_MAX_BATCH);
      const everyone = this.#open.length >= (this.#o.busy?.() ?? Infinity);
      if (full || everyone) this.#close();
      else this.#timer ??= setTimeout(() => this.#close(), this.#o.maxAgeMs ?? DEFAULT_MAX_AGE_MS);
    });
  }

  #close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const batch = this.#open;
    this.#open = [];
    if (batch.length > 0) void this.#run(batch);
  }

  /** The folders recent batches made sure of; forgotten every FOLDER_CHECK_MS, with their open handles. */
  #checkedFolders(): Set<string> {
    const now = Date.now();
    if (now - this.#checked.since > (this.#o.folderCheckMs ?? FOLDER_CHECK_MS)) {
      this.#checked = { folders: new Set(), since: now };
      this.#handles?.renew();
    }
    return this.#checked.folders;
  }

  async #run(batch: Pending[]): Promise<void> {
    const placedBy = new Map<number, Placed>();
    const failedBy = new Map<number, Error>();
    try {
      const synced = await syncGroup(batch.map((p) => p.req));
      for (const [i, e] of synced.entries()) if (e) failedBy.set(batch[i]!.req.id, e);
      const ready = batch.filter((p) => !failedBy.has(p.req.id));
      const rows = ready.map((p) => ({ ...p.req.row, id: p.req.id, token: p.req.token }));
      const outcomes = new Map<number, PlacedOutcome>();
      const results = rows.length === 0 ? [] : await this.#o.store.commitPlacedBatch(
        rows,
        async (held) => {
          const ids = new Set(held);
          const files = ready.filter((p) => ids.has(p.req.id));
          const placed = await placeGroup(this.#o.root, files.map((p) => p.req), this.#checkedFolders(), this.#handles?.syncDir);
          for (const [i, r] of placed.entries()) {
            if (r instanceof Error) failedBy.set(files[i]!.req.id, r);
            else placedBy.set(files[i]!.req.id, r);
          }
          return new Set(placedBy.keys());
        },
        this.#o.leaseMs(),
      );
      for (const [i, r] of results.entries()) outcomes.set(rows[i]!.id, r);
      crashPoint('batch_committed');
      this.stats.batches++;
      this.stats.files += batch.length;
      for (const p of batch) {
        const failed = failedBy.get(p.req.id);
        if (failed) p.reject(failed);
        else p.resolve({ ...outcomes.get(p.req.id)!, file: placedBy.get(p.req.id) ?? null });
      }
    } catch (e) {
      // The batch did not commit (a folder fsync or the transaction failed): every file reports the
      // error, as a failed placeFile or commit would; a file already renamed is not claimed durable.
      this.#o.logger.warn({ err: e, files: batch.length }, 'group commit failed');
      this.#o.onFailed?.(e);
      for (const p of batch) p.reject(failedBy.get(p.req.id) ?? e);
    }
  }
}

/**
 * Open handles of the folders the batches fsync, kept for as long as the folder checks are shared
 * (FOLDER_CHECK_MS): a folder's fsync is then one operation instead of open, fsync and close (batches
 * of 2-5 files fsynced one or two folders each, ~1.4 extra operations per file). A handle is opened
 * by path, so it is the folder the batch renamed into as long as nobody replaced that folder within
 * the second: the same trust as the checks (a replaced folder is found by the next second's). This
 * process's own folder removals (reconcile, mirror/layout.ts) drop every handle; other processes'
 * are why the pool keeps handles only with SQLite (CommitBatchOptions.keepFolderHandles).
 * A failed fsync forgets its handle (the batch fails as before).
 */
type Handle = { fh: Promise<FileHandle>; users: number; stale: boolean };

class FolderHandles {
  #open = new Map<string, Handle>();
  /** Closes them all a second after the first was opened, also when no batch comes to renew them. */
  #timer: NodeJS.Timeout | null = null;
  /** folderRemovals() when the handles were last renewed. */
  #removals = folderRemovals();

  constructor(readonly keepMs: number) {}

  /** placeGroup's syncDir. */
  readonly syncDir = (dir: string, created: boolean): Promise<void> => this.sync(dir, created);

  /** fsync `dir`; `created`: made by this batch, so a handle opened before is of another folder. */
  async sync(dir: string, created: boolean): Promise<void> {
    if (folderRemovals() !== this.#removals) this.renew();
    let h = this.#open.get(dir);
    if (h && created) {
      this.#forget(dir, h);
      h = undefined;
    }
    if (!h) {
      h = { fh: fsp.open(dir, C.O_RDONLY | C.O_DIRECTORY), users: 0, stale: false };
      this.#open.set(dir, h);
      this.#timer ??= setTimeout(() => this.renew(), this.keepMs).unref();
    }
    h.users++;
    try {
      await (await h.fh).sync();
    } catch (e) {
      this.#forget(dir, h);
      throw e;
    } finally {
      if (--h.users === 0 && h.stale) await closeQuietly(h.fh);
    }
  }

  /** Stop handing out `h` for `dir`; it is closed now, or by its last user. */
  #forget(dir: string, h: Handle): void {
    if (this.#open.get(dir) === h) this.#open.delete(dir);
    if (h.stale) return;
    h.stale = true;
    if (h.users === 0) void closeQuietly(h.fh);
  }

  /** Forget every handle: closed now, or by its last user. */
  renew(): void {
    this.#removals = folderRemovals();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const [dir, h] of this.#open) this.#forget(dir, h);
  }
}

async function closeQuietly(fh: Promise<FileHandle>): Promise<void> {
  await fh.then((f) => f.close()).catch(() => undefined);
}
