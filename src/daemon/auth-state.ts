// Whether the API rejects the credentials now. Polls, downloads and reconciles report a rejection;
// a successful poll or the gate's auth_failed probe (a token renewal) reports the recovery.
import { TOKEN_ENDPOINT_MISSING, type SyncError } from '../errors.js';
import type { Gate } from '../sync/gate.js';
import type { Runtime } from './runtime.js';

export interface AuthStateOptions {
  rt: Pick<Runtime, 'logger' | 'store' | 'tokens' | 'clock'>;
  gate: Gate;
  mode: 'continuous' | 'drain';
  /** sync.authRetryInterval in force (for the log line). */
  retryEveryMs: () => number;
  /** One cycle (`sync`) stops claiming at a rejection. */
  stopClaiming: () => void;
}

export class AuthState {
  readonly #o: AuthStateOptions;
  #failed = false;

  constructor(o: AuthStateOptions) {
    this.#o = o;
  }

  get failed(): boolean {
    return this.#failed;
  }

  /** The API rejected the credentials: pause claiming (gate: auth_failed) and drop the token. */
  rejected(e: SyncError): void {
    const { rt, mode } = this.#o;
    if (!this.#failed) {
      const why = e.code === TOKEN_ENDPOINT_MISSING ? 'there is no token endpoint at api.url' : 'the API rejected the credentials';
      const what = `${why}; ${mode === 'drain' ? 'stopping' : 'pausing (status: auth_failed) and retrying slowly'}`;
      rt.logger.error({ err: e.message, retryEveryMs: this.#o.retryEveryMs() }, what);
      // Recorded in the state so `status` shows auth_failed even when a download (not a poll) saw it.
      void rt.store.failPoll(e.message, e.errorClass, rt.clock()).catch(() => undefined);
    }
    this.#failed = true;
    // One cycle (`sync`) ends instead of waiting; it exits 3.
    if (mode === 'drain') this.#o.stopClaiming();
    rt.tokens.clear();
    // Said once above, in words that fit the mode: a one-shot sync stops, it does not pause.
    this.#o.gate.closeUntilCleared('auth_failed', {}, { logged: true });
  }

  /**
   * The credentials work again. `openGate`: also clear the gate's auth_failed (a poll succeeded); the
   * gate's own probe opens it by returning true.
   */
  recovered(openGate: boolean): void {
    if (!this.#failed) return;
    this.#failed = false;
    if (openGate) this.#o.gate.clear('auth_failed');
  }
}
