/**
 * The store side of letting a session go when it is idle: its hand-off write, which `resume`
 * waits for so an attach never lands before it, and which is written again at the next heartbeat
 * tick when the store refuses it (the session is meanwhile just not held).
 */
import { SessionNotFoundError, SessionNotLiveError } from './errors';

export class Releases {
  /** Hand-offs being written, by session. */
  private readonly writing = new Map<string, Promise<void>>();
  /** Hand-offs the store refused: the last use each carries. */
  private readonly unwritten = new Map<string, number>();

  /** `handOff`: the manager's hand-off of one session with its last use (read, decide, compare-and-set). */
  constructor(private readonly handOff: (sessionId: string, lastActiveAt: number) => Promise<void>) {}

  /** Writes the hand-off of a session just let go. */
  write(sessionId: string, lastActiveAt: number): Promise<void> {
    const writing = this.attempt(sessionId, lastActiveAt).finally(() => {
      if (this.writing.get(sessionId) === writing) this.writing.delete(sessionId);
    });
    this.writing.set(sessionId, writing);
    return writing;
  }

  /** Settles once the hand-off of `sessionId` being written, if any, is written or refused. */
  settled(sessionId: string): Promise<unknown> | undefined {
    return this.writing.get(sessionId)?.catch(() => undefined);
  }

  /** Writes again every refused hand-off, except of the sessions held here again. */
  retry(held: ReadonlySet<string>): Promise<void>[] {
    return [...this.unwritten].filter(([id]) => !held.has(id)).map(([id, at]) => this.write(id, at));
  }

  clear(): void {
    this.unwritten.clear();
  }

  // --- Internal helpers ---

  private async attempt(sessionId: string, lastActiveAt: number): Promise<void> {
    this.unwritten.delete(sessionId);
    try {
      await this.handOff(sessionId, lastActiveAt);
    } catch (error) {
      // Closed or expired elsewhere meanwhile: nothing left to hand off.
      if (error instanceof SessionNotFoundError || error instanceof SessionNotLiveError) return;
      this.unwritten.set(sessionId, lastActiveAt);
      throw error;
    }
  }
}
