/** A listing cursor (sessions, tasks): the list position of a page's last record, opaque to callers. */
import { InvalidArgumentError } from './errors';
import type { ListAfter } from './store';

export function encodeCursor(last: ListAfter): string {
  return Buffer.from(JSON.stringify([last.createdAt, last.id])).toString('base64url');
}

/** `by`: the call that hands such cursors out, named in the error. */
export function decodeCursor(cursor: string, by = 'getActiveSessions'): ListAfter {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'number' && typeof id === 'string') return { createdAt, id };
  } catch {
    // fall through to the typed error below
  }
  throw new InvalidArgumentError('cursor', `not a cursor returned by ${by}`);
}
