// Group commit of small downloads (issue 13 §1). Workers hand a finished small file to the batcher
// and go on to their next download (the pool frees the worker's slot at the handoff; the job's lease,
// heartbeat and staging claim stay held until its batch is done). One batch commits at a time: a file
// handed in while none runs starts a batch at once, and files handed in while one runs form the next
// batch, which starts when it ends (up to maxBatch files), so a batch is as large as the commit it
// waited for was long, and a lone file waits for nobody. A batch, in order: the files are fsynced concurrently, the leases are checked
// (PostgreSQL holds the rows' locks until the commit), the files renamed, their folders fsynced once
// (mirror/group-commit.ts), and the `done` rows and their outbox events commit in one transaction.
// A worker learns its outcome only after that: nothing is reported done before it is durable.
import type { Logger } from '../lib/logger.js';
import { crashPoint } from '../lib/crash-point.js';
import { placeGroup, syncGroup, type GroupFile } from '../mirror/group-commit.js';
import type { Placed } from '../mirror/commit.js';
import type { CompleteInput, PlacedOutcome, WorkerStore } from '../store/types.js';

export interface CommitBatchOptions {
  store: WorkerStore;
  root: string;
  logger: Logger;
  /** The lease length to extend to at the check (sync.leaseDuration, read per batch). */
  leaseMs: () => number;
  /** Files per batch at most. */
  maxBatch?: number;
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

export const DEFAULT_MAX_BATCH = 128;

export class CommitBatcher {
  readonly #o: CommitBatchOptions;
  #open: Pending[] = [];
  #running = 0;
  /** Batches committed and files in them (bench and tests read these). */
  readonly stats = { batches: 0, files: 0 };

  constructor(o: CommitBatchOptions) {
    this.#o = o;
  }

  /** Files handed in and not yet committed (or failed): the pool's backpressure reads it. */
  get pending(): number {
    return this.#open.length + this.#running;
  }

  /** Commit this file with the next batch; resolves once the batch is durable (or rejects with this file's error). */
  commit(req: CommitRequest): Promise<CommitResult> {
    return new Promise<CommitResult>((resolve, reject) => {
      this.#open.push({ req, resolve, reject });
      this.#next();
    });
  }

  /** Start the next batch unless one is committing. */
  #next(): void {
    if (this.#running > 0 || this.#open.length === 0) return;
    const batch = this.#open.splice(0, this.#o.maxBatch ?? DEFAULT_MAX_BATCH);
    this.#running = batch.length;
    void this.#run(batch).finally(() => {
      this.#running = 0;
      this.#next();
    });
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
          const placed = await placeGroup(this.#o.root, files.map((p) => p.req));
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
      for (const p of batch) p.reject(failedBy.get(p.req.id) ?? e);
    }
  }
}
