/**
 * The Lua scripts, one per atomic step. Every script touches the keys of ONE shard only (they share
 * the hash tag `{<prefix>s<n>}`), so each runs atomically on Redis Cluster too. Keys a script
 * derives from index members (records of a shard, state entries of a session) carry the same tag
 * by construction.
 *
 * Record hash fields: `j` the identity as JSON, written once by insert; then the liveness, one
 * plain field each (`LIVENESS_FIELDS`), which compare-and-set, touch and claim write; `seq` the
 * event counter. A field holding null is ''.
 *
 * Task hash fields: `j` the task's identity as JSON, written once by insertTask; then its state,
 * one field each (`TASK_FIELDS`), which compare-and-set writes whole and renewal and claim write in
 * part (`v`, `w`, `l`). A task's hash and its index entries share its shard (by its own id).
 */
import { Script } from './connection';

/**
 * The liveness fields of a record hash, in the order the scripts take and return them: status,
 * version, ownerId (as JSON: `null` or a string), lastHeartbeatAt, disconnectedAt,
 * graceExpiresAt, recoveryAttempts, recoveredAt, endedAt, dueAt.
 */
export const LIVENESS_FIELDS = ['s', 'v', 'o', 'hb', 'dc', 'g', 'ra', 'rc', 'e', 'due'] as const;

/** Values per record in script replies: `j`, then the liveness fields. */
export const RECORD_WIDTH = 1 + LIVENESS_FIELDS.length;

const FIELD_LIST = LIVENESS_FIELDS.map((f) => `'${f}'`).join(', ');

/** Writing and reading whole records. */
const RECORDS = `
local FIELDS = { ${FIELD_LIST} }
-- Sets the liveness fields from ARGV[from], ARGV[from + 1], ...
local function write_liveness(rec, from)
  local args = {}
  for i, f in ipairs(FIELDS) do args[#args + 1] = f; args[#args + 1] = ARGV[from + i - 1] end
  redis.call('HSET', rec, unpack(args))
end
-- Appends j and the liveness fields (all false when there is no record).
local function read(out, rec)
  local f = redis.call('HMGET', rec, 'j', unpack(FIELDS))
  for i = 1, #FIELDS + 1 do out[#out + 1] = f[i] end
end
`;

/**
 * The record (and task) key of an id, built in Lua where ids come from an index:
 * `<tag>r:<base64url(id)>` (`<tag>task:...`), as `keySpace().record` (`.task`) builds it
 * (unpadded base64url of the UTF-8 bytes).
 */
const RECORD_KEY = `
local B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
local function encode_name(id)
  local out = {}
  for i = 1, #id, 3 do
    local a, b, c = string.byte(id, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local d = { math.floor(n / 262144), math.floor(n / 4096) % 64, math.floor(n / 64) % 64, n % 64 }
    for k = 1, (c and 4) or (b and 3) or 2 do out[#out + 1] = string.sub(B64, d[k] + 1, d[k] + 1) end
  end
  return table.concat(out)
end
local function record_key(tag, id) return tag .. 'r:' .. encode_name(id) end
local function task_key(tag, id) return tag .. 'task:' .. encode_name(id) end
`;

/**
 * Keyset paging of a "by createdAt" index read in (createdAt desc, id desc) order: the rank below
 * which the index's ids come strictly after the cursor, found by binary search on rank (never a
 * scan or OFFSET). Ids are compared byte by byte: Lua's `<` on strings follows the server's locale.
 */
const CURSOR_RANK = `
local function less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function rank_after(index, after_at, after_id)
  if after_at == '' then return redis.call('ZCARD', index) end
  local lo = redis.call('ZCOUNT', index, '-inf', '(' .. after_at)
  local hi = redis.call('ZCOUNT', index, '-inf', after_at)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if less(redis.call('ZRANGE', index, mid, mid)[1], after_id) then lo = mid + 1 else hi = mid end
  end
  return lo
end
`;

/**
 * Deletes a session's agent state and events. KEYS: sk (state index), sx (expiry index), ev,
 * eb (the events' byte total).
 */
const PURGE_DATA = `
local function purge_data(sk, sx, ev, eb, entry_prefix, expiry_prefix)
  local members = redis.call('SMEMBERS', sk)
  for _, m in ipairs(members) do
    redis.call('DEL', entry_prefix .. m)
    redis.call('ZREM', sx, expiry_prefix .. m)
  end
  redis.call('DEL', sk, ev, eb)
end
`;

/**
 * KEYS: rec, due, created. ARGV: id, identityJson, createdAt, then the liveness fields.
 * → 1 inserted, 0 the id is taken.
 */
export const INSERT = new Script(`${RECORDS}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[2])
write_liveness(KEYS[1], 4)
redis.call('ZADD', KEYS[2], ARGV[13], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
`);

/**
 * KEYS: rec, due. ARGV: id, expectedVersion, then the liveness fields. Writes the liveness only
 * (the identity stays as inserted). → 1 written, 0 not (other version, or no record).
 */
export const COMPARE_AND_SET = new Script(`${RECORDS}
local v = redis.call('HGET', KEYS[1], 'v')
if not v or tonumber(v) ~= tonumber(ARGV[2]) then return 0 end
write_liveness(KEYS[1], 3)
redis.call('ZADD', KEYS[2], ARGV[12], ARGV[1])
return 1
`);

/**
 * KEYS: due, rec1..recN. ARGV: now, dueAt, id1..idN. For each record that is active: v + 1,
 * hb = now, due = dueAt, and its due index score (one ZADD per 1000). The list index is ordered by
 * creation, so a heartbeat leaves it alone. → the ids NOT touched (usually none: a small reply).
 */
export const TOUCH = new Script(`
local missed, due = {}, {}
for i = 2, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 's', 'v')
  if f[1] == 'active' then
    redis.call('HSET', KEYS[i], 'v', tonumber(f[2]) + 1, 'hb', ARGV[1], 'due', ARGV[2])
    due[#due + 1] = ARGV[2]; due[#due + 1] = ARGV[i + 1]
    if #due >= 2000 then
      redis.call('ZADD', KEYS[1], unpack(due))
      due = {}
    end
  else
    missed[#missed + 1] = ARGV[i + 1]
  end
end
if #due > 0 then redis.call('ZADD', KEYS[1], unpack(due)) end
return missed
`);

/**
 * KEYS: one time index (due, or a task lease or expiry index). ARGV: now, limit.
 * → flat [id, score, ...] earliest first, scores <= now (read only).
 */
export const PEEK_DUE = new Script(`
return redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2], 'WITHSCORES')
`);

/**
 * KEYS: due, rec1..recN. ARGV: now, leasedDue, id1..idN. Leases each record still due (another
 * sweeper may have taken it since the peek). → flat records (`RECORD_WIDTH` values each) as leased.
 */
export const CLAIM = new Script(`${RECORDS}
local out = {}
for i = 2, #KEYS do
  local id = ARGV[i + 1]
  local due = redis.call('ZSCORE', KEYS[1], id)
  if due and redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('ZREM', KEYS[1], id)
  elseif due and tonumber(due) <= tonumber(ARGV[1]) then
    redis.call('HINCRBY', KEYS[i], 'v', 1)
    redis.call('HSET', KEYS[i], 'due', ARGV[2])
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    read(out, KEYS[i])
  end
end
return out
`);

/**
 * KEYS: rec, due, created, sk, sx, ev, eb. ARGV: id, entryPrefix, expiryPrefix.
 * Deletes the record, its index entries, agent state and events. → 1 if there was a record.
 */
export const DELETE = new Script(`${PURGE_DATA}
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
purge_data(KEYS[4], KEYS[5], KEYS[6], KEYS[7], ARGV[2], ARGV[3])
return existed
`);

/** KEYS: sk, sx, ev, eb. ARGV: entryPrefix, expiryPrefix. Deletes state and events, keeps the record. */
export const PURGE_SESSION_DATA = new Script(`${PURGE_DATA}
purge_data(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2])
return 1
`);

/**
 * KEYS: rec, entry, sk, sx. ARGV: indexMember, expiryMember, value, expiresAt|'', nativeExpiryAt.
 * Writes only while the record is live (its endedAt is ''; a missing record reads false).
 * → 1 written, 0 no live session.
 * Native expiry (PXAT) is set only when still in the future by the server's clock, so it can never
 * drop an entry a caller's `now` still sees; the expiry index is what the contract relies on.
 * `SET ... GET` tells whether the index set and the expiry index need touching at all, so an
 * overwrite of an entry without expiry is two calls.
 */
export const SET_STATE = new Script(`
if redis.call('HGET', KEYS[1], 'e') ~= '' then return 0 end
local old
if ARGV[4] == '' then
  old = redis.call('SET', KEYS[2], ARGV[3], 'GET')
else
  local t = redis.call('TIME')
  local server_now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if tonumber(ARGV[5]) > server_now then
    old = redis.call('SET', KEYS[2], ARGV[3], 'PXAT', ARGV[5], 'GET')
  else
    old = redis.call('SET', KEYS[2], ARGV[3], 'GET')
  end
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2])
end
-- No old value: a new entry, or one Redis expired natively (whose expiry member may linger).
if not old then
  redis.call('SADD', KEYS[3], ARGV[1])
  if ARGV[4] == '' then redis.call('ZREM', KEYS[4], ARGV[2]) end
elseif ARGV[4] == '' and string.match(old, '^[^|]*|([^|]*)|') ~= '' then
  redis.call('ZREM', KEYS[4], ARGV[2])
end
return 1
`);

/** KEYS: entry, sk, sx. ARGV: indexMember, expiryMember. → 1 deleted, 0 none. */
export const DELETE_STATE = new Script(`
local n = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[2])
return n
`);

/** KEYS: sk. ARGV: entryPrefix. → flat [indexMember, value, ...] of the entries still stored (read only). */
export const LIST_STATE = new Script(`
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', ARGV[1] .. m)
  if v then out[#out + 1] = m; out[#out + 1] = v end
end
return out
`);

/**
 * KEYS: sx. ARGV: now, limit, tagPrefix. Deletes up to `limit` entries with expiresAt <= now.
 * → { deleted, examined } (entries Redis already expired natively are examined, not counted).
 */
export const PURGE_EXPIRED_STATE = new Script(`
local members = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
local deleted = 0
for _, m in ipairs(members) do
  local sep = string.find(m, ':', 1, true)
  deleted = deleted + redis.call('DEL', ARGV[3] .. 'st:' .. m)
  redis.call('SREM', ARGV[3] .. 'sk:' .. string.sub(m, 1, sep - 1), string.sub(m, sep + 1))
  redis.call('ZREM', KEYS[1], m)
end
return { deleted, #members }
`);

/** The byte size of an event member `seq:createdAt:stream:json`: that of its JSON. */
const EVENT_SIZE = `
local function event_size(m)
  local _, e = string.find(m, '^[^:]*:[^:]*:[^:]*:')
  return #m - e
end
`;

/**
 * KEYS: rec, ev, eb. ARGV: createdAt, encodedStreamId, messageJson, messageBytes. Appends while
 * the session is live (endedAt ''). → the new seq (from the record's counter, never reused), or 0
 * when there is no live session. A log written before the byte total existed gets it at its next trim.
 */
export const APPEND_EVENT = new Script(`
if redis.call('HGET', KEYS[1], 'e') ~= '' then return 0 end
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('INCRBY', KEYS[3], ARGV[4])
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, seq .. ':' .. ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3])
return seq
`);

/**
 * KEYS: ev, eb. ARGV: maxEvents|'', createdBefore|'', maxBytes|''. Drops the oldest events: those
 * created before the instant (up to the first one that is not), all but the newest maxEvents,
 * and then as many as it takes for the rest to weigh at most maxBytes. Reads only the events it
 * drops (for their sizes); the total is kept in eb. → how many.
 */
export const TRIM_EVENTS = new Script(`${EVENT_SIZE}
local count = redis.call('ZCARD', KEYS[1])
if count == 0 then
  redis.call('DEL', KEYS[2])
  return 0
end
local total = tonumber(redis.call('GET', KEYS[2]))
if not total then
  total = 0
  for from = 0, count - 1, 100 do
    for _, m in ipairs(redis.call('ZRANGE', KEYS[1], from, from + 99)) do total = total + event_size(m) end
  end
end
local drop = 0
if ARGV[2] ~= '' then
  local before, done = tonumber(ARGV[2]), false
  while not done do
    local batch = redis.call('ZRANGE', KEYS[1], drop, drop + 99)
    if #batch == 0 then break end
    for _, m in ipairs(batch) do
      local created = tonumber(string.match(m, '^[^:]*:([^:]*):'))
      if created < before then drop = drop + 1 else done = true; break end
    end
  end
end
if ARGV[1] ~= '' then drop = math.max(drop, count - tonumber(ARGV[1])) end
local max_bytes = tonumber(ARGV[3])
local at = 0
while at < count and (at < drop or (max_bytes and total > max_bytes)) do
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], at, at + 99)) do
    if at >= drop and not (max_bytes and total > max_bytes) then break end
    total = total - event_size(m)
    at = at + 1
  end
end
if at > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, at - 1) end
if at == count then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], total) end
return at
`);

/**
 * KEYS: created (one shard's list index: ids scored by createdAt). ARGV: quota, maxScan,
 * afterCreatedAt|'', afterId, tag, status1..statusN.
 * Walks the index in (createdAt desc, id desc) order from strictly after the cursor (found by
 * binary search on rank, never a scan or OFFSET: `CURSOR_RANK`) and keeps the records with one of
 * the statuses, until `quota` are kept or `maxScan` ids were looked at.
 * → { exhausted 0|1, lastCreatedAt, lastId (the last id looked at, false if none), records... }
 * (read only).
 */
export const LIST_PAGE = new Script(`${RECORDS}${RECORD_KEY}${CURSOR_RANK}
local quota, max_scan, after_at, after_id, tag = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local wanted = {}
for i = 6, #ARGV do wanted[ARGV[i]] = true end
-- Ranks below stop are after the cursor.
local stop = rank_after(KEYS[1], after_at, after_id)
local records, kept, scanned, last_at, last_id = {}, 0, 0, false, false
while stop > 0 and kept < quota and scanned < max_scan do
  local start = math.max(stop - math.min(100, max_scan - scanned), 0)
  local items = redis.call('ZRANGE', KEYS[1], start, stop - 1, 'WITHSCORES')
  for i = #items - 1, 1, -2 do
    local id = items[i]
    local rec = record_key(tag, id)
    stop, scanned, last_at, last_id = stop - 1, scanned + 1, items[i + 1], id
    if wanted[redis.call('HGET', rec, 's')] then
      read(records, rec)
      kept = kept + 1
      if kept == quota then break end
    end
  end
end
local out = { stop == 0 and 1 or 0, last_at, last_id }
for _, v in ipairs(records) do out[#out + 1] = v end
return out
`);

/**
 * Layout 1 → 2, one batch of one shard. KEYS: created, due, then the layout-1 "by heartbeat"
 * indexes (one per status). ARGV: batch, tag.
 * Layout 1 kept the whole record as JSON in \`j\` (liveness as of its last compare-and-set), its
 * version and status in \`v\` and \`s\`, and lastHeartbeatAt only as the score of its status's index.
 * Each record moved gets its liveness fields (from those), joins the created index, and leaves the
 * old index, in one script: a batch is all or nothing, and a stopped migration resumes where it
 * stopped. \`j\` stays as it is: its identity keys are the identity; the rest is ignored.
 * → how many records were moved (fewer than batch: the shard is done).
 */
export const MIGRATE_LAYOUT_1 = new Script(`${RECORD_KEY}
local batch, tag, moved = tonumber(ARGV[1]), ARGV[2], 0
local function num(x)
  if x == nil or x == cjson.null then return '' end
  return string.format('%.17g', x)
end
for k = 3, #KEYS do
  local items = redis.call('ZRANGE', KEYS[k], 0, batch - moved - 1, 'WITHSCORES')
  for i = 1, #items, 2 do
    local id, hb = items[i], items[i + 1]
    local rec = record_key(tag, id)
    local j = redis.call('HGET', rec, 'j')
    if j then
      local doc = cjson.decode(j)
      local owner = 'null'
      if type(doc.ownerId) == 'string' then owner = cjson.encode(doc.ownerId) end
      -- A record missing from the due index (never written so) is made due: the sweep decides.
      local due = redis.call('ZSCORE', KEYS[2], id) or '0'
      redis.call('HSET', rec, 'o', owner, 'hb', hb, 'dc', num(doc.disconnectedAt),
        'g', num(doc.graceExpiresAt), 'ra', num(doc.recoveryAttempts), 'rc', num(doc.recoveredAt),
        'e', num(doc.endedAt), 'due', due)
      redis.call('ZADD', KEYS[2], due, id)
      redis.call('ZADD', KEYS[1], num(doc.createdAt), id)
    end
    redis.call('ZREM', KEYS[k], id)
    moved = moved + 1
  end
  if moved >= batch then break end
end
return moved
`);

/**
 * The state fields of a task hash, in `TaskState` order, as the task scripts take and return
 * them: status, version, statusMessage (JSON), updatedAt, ttlMs, expiresAt, pollIntervalMs,
 * workerId (JSON), leaseUntil, attempts, inputRequests, result, error (JSON). A null number is ''.
 */
export const TASK_FIELDS = ['s', 'v', 'm', 'u', 'ttl', 'x', 'pi', 'w', 'l', 'a', 'in', 'res', 'err'] as const;

/** Values per task in script replies: `j`, then the state fields. */
export const TASK_WIDTH = 1 + TASK_FIELDS.length;

const TASK_FIELD_LIST = TASK_FIELDS.map((f) => `'${f}'`).join(', ');

/**
 * Writing, indexing and reading whole tasks. A task is in the lease index while `l` is not ''
 * and in the expiry index while `x` is not '': both follow every state write.
 */
const TASKS = `
local TASK_FIELDS = { ${TASK_FIELD_LIST} }
-- Sets the state fields from ARGV[from], ARGV[from + 1], ...; then the lease and expiry indexes.
local function write_task(key, id, lease_index, expiry_index, from)
  local args = {}
  for i, f in ipairs(TASK_FIELDS) do args[#args + 1] = f; args[#args + 1] = ARGV[from + i - 1] end
  redis.call('HSET', key, unpack(args))
  local l, x = ARGV[from + 8], ARGV[from + 5]
  if l == '' then redis.call('ZREM', lease_index, id) else redis.call('ZADD', lease_index, l, id) end
  if x == '' then redis.call('ZREM', expiry_index, id) else redis.call('ZADD', expiry_index, x, id) end
end
-- Appends j and the state fields (all false when there is no task).
local function read_task(out, key)
  local f = redis.call('HMGET', key, 'j', unpack(TASK_FIELDS))
  for i = 1, #TASK_FIELDS + 1 do out[#out + 1] = f[i] end
end
`;

/**
 * KEYS: task, created, lease, expiry. ARGV: id, identityJson, createdAt, then the state fields.
 * → 1 inserted, 0 the id is taken.
 */
export const INSERT_TASK = new Script(`${TASKS}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[2])
write_task(KEYS[1], ARGV[1], KEYS[3], KEYS[4], 4)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
`);

/**
 * KEYS: task, lease, expiry. ARGV: id, expectedVersion, then the state fields. Writes the state
 * only (the identity stays as inserted). → 1 written, 0 not (other version, or no task).
 */
export const COMPARE_AND_SET_TASK = new Script(`${TASKS}
local v = redis.call('HGET', KEYS[1], 'v')
if not v or tonumber(v) ~= tonumber(ARGV[2]) then return 0 end
write_task(KEYS[1], ARGV[1], KEYS[2], KEYS[3], 3)
return 1
`);

/**
 * KEYS: lease, task1..taskN. ARGV: workerJson, leaseUntil, id1..idN. For each task that holds a
 * lease (`l` not '') with `w` = workerJson: v + 1, l = leaseUntil, and its lease score (one ZADD
 * per 1000). The status is not read: the lease decides. → the ids renewed.
 */
export const RENEW_TASK_LEASES = new Script(`
local renewed, lease = {}, {}
for i = 2, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'w', 'l')
  if f[2] and f[2] ~= '' and f[1] == ARGV[1] then
    redis.call('HINCRBY', KEYS[i], 'v', 1)
    redis.call('HSET', KEYS[i], 'l', ARGV[2])
    renewed[#renewed + 1] = ARGV[i + 1]
    lease[#lease + 1] = ARGV[2]; lease[#lease + 1] = ARGV[i + 1]
    if #lease >= 2000 then
      redis.call('ZADD', KEYS[1], unpack(lease))
      lease = {}
    end
  end
end
if #lease > 0 then redis.call('ZADD', KEYS[1], unpack(lease)) end
return renewed
`);

/**
 * KEYS: lease, task1..taskN. ARGV: now, workerJson, leaseUntil, id1..idN. Gives each task whose
 * lease is still lapsed (another claimer may have taken it since the peek) to the worker: v + 1,
 * w, l, and its new lease score. An index entry without its task is dropped.
 * → flat [lapsedLeaseUntil, then `TASK_WIDTH` values] per task claimed, as stored after the claim.
 */
export const CLAIM_TASKS = new Script(`${TASKS}
local out = {}
for i = 2, #KEYS do
  local id = ARGV[i + 2]
  local lease = redis.call('ZSCORE', KEYS[1], id)
  if lease and redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('ZREM', KEYS[1], id)
  elseif lease and tonumber(lease) <= tonumber(ARGV[1]) then
    redis.call('HINCRBY', KEYS[i], 'v', 1)
    redis.call('HSET', KEYS[i], 'w', ARGV[2], 'l', ARGV[3])
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    out[#out + 1] = lease
    read_task(out, KEYS[i])
  end
end
return out
`);

/**
 * KEYS: expiry, lease, created, task1..taskN. ARGV: now, id1..idN. Deletes each task still expired
 * (another sweeper may have deleted it since the peek) and its index entries. → how many deleted.
 */
export const DELETE_TASKS = new Script(`
local deleted = 0
for i = 4, #KEYS do
  local id = ARGV[i - 2]
  local at = redis.call('ZSCORE', KEYS[1], id)
  if at and tonumber(at) <= tonumber(ARGV[1]) then
    deleted = deleted + redis.call('DEL', KEYS[i])
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  end
end
return deleted
`);

/**
 * KEYS: created (one shard's task list index). ARGV: quota, afterCreatedAt|'', afterId, tag.
 * Walks the index in (createdAt desc, id desc) order from strictly after the cursor
 * (`CURSOR_RANK`) and reads up to `quota` tasks.
 * → { exhausted 0|1, lastCreatedAt, lastId (the last id looked at, false if none), tasks... }
 * (read only).
 */
export const LIST_TASKS = new Script(`${TASKS}${RECORD_KEY}${CURSOR_RANK}
local quota, after_at, after_id, tag = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local stop = rank_after(KEYS[1], after_at, after_id)
local tasks, kept, last_at, last_id = {}, 0, false, false
while stop > 0 and kept < quota do
  local start = math.max(stop - (quota - kept), 0)
  local items = redis.call('ZRANGE', KEYS[1], start, stop - 1, 'WITHSCORES')
  for i = #items - 1, 1, -2 do
    local key = task_key(tag, items[i])
    stop, last_at, last_id = stop - 1, items[i + 1], items[i]
    if redis.call('EXISTS', key) == 1 then
      read_task(tasks, key)
      kept = kept + 1
    end
  end
end
local out = { stop == 0 and 1 or 0, last_at, last_id }
for _, v in ipairs(tasks) do out[#out + 1] = v end
return out
`);
