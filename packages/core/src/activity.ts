/**
 * Which sessions held by this instance are in use, and since when the others are idle: what the
 * idle release (`idleReleaseMs`) and the idle timeout (`idleTimeoutMs`) read. Memory only: no
 * request writes the store to be counted as use.
 *
 * A session is busy while any use of it is open (a request in flight, an open stream) and idle
 * otherwise. Idle sessions sit in one `Map` in the order they went idle, so finding those idle
 * for long enough reads only them, oldest first, and a request costs two map writes.
 */
export class Activity {
  /** Busy sessions: their open uses. An entry is replaced, never reused, once its session is forgotten. */
  private readonly busy = new Map<string, { open: number }>();
  /** Idle sessions and when they went idle, in that order. */
  private readonly idle = new Map<string, number>();

  /** A session this instance started to hold: idle from `now` unless already tracked. */
  hold(sessionId: string, now: number): void {
    if (!this.busy.has(sessionId) && !this.idle.has(sessionId)) this.idle.set(sessionId, now);
  }

  /** A session no longer held here: nothing about it is kept. */
  forget(sessionId: string): void {
    this.busy.delete(sessionId);
    this.idle.delete(sessionId);
  }

  /**
   * Opens one use of a held session; the returned function closes it (once; later calls do
   * nothing, and so does a call after the session was forgotten and held again).
   */
  begin(sessionId: string, clock: { now(): number }): () => void {
    let uses = this.busy.get(sessionId);
    if (!uses) {
      if (!this.idle.delete(sessionId)) return noop;
      uses = { open: 0 };
      this.busy.set(sessionId, uses);
    }
    uses.open++;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      if (--uses.open > 0 || this.busy.get(sessionId) !== uses) return;
      this.busy.delete(sessionId);
      this.idle.set(sessionId, clock.now());
    };
  }

  /** A use that opens and closes at once (a heartbeat, an agent-state call): idle from `now` again. */
  touch(sessionId: string, now: number): void {
    if (!this.idle.delete(sessionId)) return;
    this.idle.set(sessionId, now);
  }

  /** When the session went idle; undefined while busy or not held. */
  idleSince(sessionId: string): number | undefined {
    return this.idle.get(sessionId);
  }

  /** Sessions idle since `before` or earlier, oldest first, with the instant each went idle. */
  idleBefore(before: number): [sessionId: string, idleSince: number][] {
    const found: [string, number][] = [];
    for (const entry of this.idle) {
      if (entry[1] > before) break;
      found.push(entry);
    }
    return found;
  }

  clear(): void {
    this.busy.clear();
    this.idle.clear();
  }
}

function noop(): void {}
