/**
 * The journal's vocabulary: what one line of the file says. Each operation appends one line, the
 * JSON array of its changes, and resolves only after the append; opening the file applies every
 * line in order (`JsonFileContext.applyLine`), then rewrites the file compacted. For a database,
 * this file is the schema: the tables and the statements that change them.
 */
import type { AgentStateEntry, SessionRecord } from '@mcp-sessions/core';
import type { EventEntry, SessionLiveness } from '@mcp-sessions/core/adapter';

/** One line of the journal: the changes of one operation, applied in order on replay. */
export type Change =
  | ['record', SessionRecord]
  | ['live', string, SessionLiveness]
  | ['delete', string]
  | ['purge', string]
  | ['state', AgentStateEntry]
  | ['unstate', string, string, string]
  | ['event', EventEntry]
  | ['unevents', string, number[]]
  | ['seq', string, number];

/** Containers around a stored value in a journal line (line, change, entry): see `encodeJson`. */
export const JOURNAL_ENVELOPE = 3;
