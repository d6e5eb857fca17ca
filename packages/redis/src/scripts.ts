/**
 * The Lua scripts, one per atomic step. Every script touches the keys of ONE shard only (they share
 * the hash tag `{<prefix>s<n>}`), so each runs atomically on Redis Cluster too. Keys a script
 * derives from index members (state entries of a session) carry the same tag by construction.
 *
 * Record hash fields: j (record JSON), v (version), s (status), seq (last event seq).
 * lastHeartbeatAt and dueAt live only as the scores of the shard's `hb:<status>` and `due`
 * indexes (so a heartbeat writes one hash field per session); v and s override `j`.
 */
import { Script } from './connection';

/** KEYS[2..6] of record scripts: the shard's due index and its four "by heartbeat" indexes. */
const STATUS_INDEXES = `
local DUE = KEYS[2]
local HB = { active = KEYS[3], disconnected = KEYS[4], expired = KEYS[5], closed = KEYS[6] }
local function index(id, status, hb, due)
  redis.call('ZADD', HB[status], hb, id)
  redis.call('ZADD', DUE, due, id)
end
local function unindex(id)
  for _, key in pairs(HB) do redis.call('ZREM', key, id) end
  redis.call('ZREM', DUE, id)
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

/** KEYS: rec, due, hb x4. ARGV: id, json, version, status, hb, due. → 1 inserted, 0 exists. */
export const INSERT = new Script(`${STATUS_INDEXES}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[2], 'v', ARGV[3], 's', ARGV[4])
index(ARGV[1], ARGV[4], ARGV[5], ARGV[6])
return 1
`);

/** KEYS: rec, due, hb x4. ARGV: id, json, version, status, hb, due, expectedVersion. → 1 written, 0 not. */
export const COMPARE_AND_SET = new Script(`${STATUS_INDEXES}
local cur = redis.call('HMGET', KEYS[1], 'v', 's')
if not cur[1] or tonumber(cur[1]) ~= tonumber(ARGV[7]) then return 0 end
if cur[2] ~= ARGV[4] then redis.call('ZREM', HB[cur[2]], ARGV[1]) end
redis.call('HSET', KEYS[1], 'j', ARGV[2], 'v', ARGV[3], 's', ARGV[4])
index(ARGV[1], ARGV[4], ARGV[5], ARGV[6])
return 1
`);

/**
 * KEYS: due, hb:active, rec1..recN. ARGV: now, dueAt, id1..idN.
 * For each record that is active (a member of hb:active): v + 1, and in the indexes hb = now,
 * due = dueAt. Status by one ZMSCORE per 1000 ids, the indexes by one ZADD each.
 * → the ids NOT touched (usually none, so the reply stays small).
 */
export const TOUCH = new Script(`
local touched, missed = {}, {}
for from = 3, #ARGV, 1000 do
  local to = math.min(from + 999, #ARGV)
  local live = redis.call('ZMSCORE', KEYS[2], unpack(ARGV, from, to))
  for i = from, to do
    if live[i - from + 1] then
      redis.call('HINCRBY', KEYS[i], 'v', 1)
      touched[#touched + 1] = ARGV[i]
    else
      missed[#missed + 1] = ARGV[i]
    end
  end
end
for from = 1, #touched, 1000 do
  local hb, due = {}, {}
  for j = from, math.min(from + 999, #touched) do
    hb[#hb + 1] = ARGV[1]; hb[#hb + 1] = touched[j]
    due[#due + 1] = ARGV[2]; due[#due + 1] = touched[j]
  end
  redis.call('ZADD', KEYS[2], unpack(hb))
  redis.call('ZADD', KEYS[1], unpack(due))
end
return missed
`);

/** Reads records of one shard: KEYS[1..5] its due and hb x4 indexes, the records from KEYS[6]. */
const READ_RECORDS = `
local DUE = KEYS[1]
local HB = { active = KEYS[2], disconnected = KEYS[3], expired = KEYS[4], closed = KEYS[5] }
local function read(out, rec, id)
  local f = redis.call('HMGET', rec, 'j', 'v', 's')
  if not f[1] then
    for k = 1, 5 do out[#out + 1] = false end
    return
  end
  out[#out + 1] = f[1]; out[#out + 1] = f[2]; out[#out + 1] = f[3]
  out[#out + 1] = redis.call('ZSCORE', HB[f[3]], id)
  out[#out + 1] = redis.call('ZSCORE', DUE, id)
end
`;

/**
 * KEYS: due, hb x4, rec1..recN (one shard). ARGV: id1..idN.
 * → flat [j, v, s, hb, due, ...], nils for a missing record (read only).
 */
export const GET_RECORDS = new Script(`${READ_RECORDS}
local out = {}
for i = 6, #KEYS do read(out, KEYS[i], ARGV[i - 5]) end
return out
`);

/** KEYS: due. ARGV: now, limit. → flat [id, dueAt, ...] earliest first (read only). */
export const PEEK_DUE = new Script(`
return redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2], 'WITHSCORES')
`);

/**
 * KEYS: due, hb x4, rec1..recN. ARGV: now, leasedDue, id1..idN. Leases each record still due
 * (another sweeper may have taken it since the peek). → flat [j, v, s, hb, due, ...] of leased records.
 */
export const CLAIM = new Script(`${READ_RECORDS}
local out = {}
for i = 6, #KEYS do
  local id = ARGV[i - 3]
  local due = redis.call('ZSCORE', DUE, id)
  if due and redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('ZREM', DUE, id)
  elseif due and tonumber(due) <= tonumber(ARGV[1]) then
    redis.call('HINCRBY', KEYS[i], 'v', 1)
    redis.call('ZADD', DUE, ARGV[2], id)
    read(out, KEYS[i], id)
  end
end
return out
`);

/**
 * KEYS: rec, due, hb x4, sk, sx, ev, eb. ARGV: id, entryPrefix, expiryPrefix.
 * Deletes the record, its index entries, agent state and events. → 1 if there was a record.
 */
export const DELETE = new Script(`${STATUS_INDEXES}${PURGE_DATA}
local existed = redis.call('DEL', KEYS[1])
unindex(ARGV[1])
purge_data(KEYS[7], KEYS[8], KEYS[9], KEYS[10], ARGV[2], ARGV[3])
return existed
`);

/** KEYS: sk, sx, ev, eb. ARGV: entryPrefix, expiryPrefix. Deletes state and events, keeps the record. */
export const PURGE_SESSION_DATA = new Script(`${PURGE_DATA}
purge_data(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2])
return 1
`);

/**
 * KEYS: rec, entry, sk, sx. ARGV: indexMember, expiryMember, value, expiresAt|'', nativeExpiryAt.
 * Writes only while the record is active or disconnected. → 1 written, 0 no live session.
 * Native expiry (PXAT) is set only when still in the future by the server's clock, so it can never
 * drop an entry a caller's `now` still sees; the expiry index is what the contract relies on.
 * `SET ... GET` tells whether the index set and the expiry index need touching at all, so an
 * overwrite of an entry without expiry is two calls.
 */
export const SET_STATE = new Script(`
local s = redis.call('HGET', KEYS[1], 's')
if s ~= 'active' and s ~= 'disconnected' then return 0 end
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
 * the session is live. → the new seq (from the record's counter, never reused), or 0 when there
 * is no live session. A log written before the byte total existed gets it at its next trim.
 */
export const APPEND_EVENT = new Script(`
local s = redis.call('HGET', KEYS[1], 's')
if s ~= 'active' and s ~= 'disconnected' then return 0 end
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
 * KEYS: "by heartbeat" indexes of one shard. ARGV: limit, then per key: afterHb|'', afterId.
 * For each index, up to `limit` members strictly after its cursor in (score desc, member desc)
 * order, found by binary search on rank (never a scan). → per key: count, then id, hb, ... (read only).
 * Members are compared byte by byte: Lua's `<` on strings follows the server's locale.
 */
export const LIST_PAGE = new Script(`
local limit = tonumber(ARGV[1])
local function less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local out = {}
for k = 1, #KEYS do
  local key, hb, id = KEYS[k], ARGV[2 * k], ARGV[2 * k + 1]
  local stop
  if hb == '' then
    stop = redis.call('ZCARD', key)
  else
    local lo = redis.call('ZCOUNT', key, '-inf', '(' .. hb)
    local hi = redis.call('ZCOUNT', key, '-inf', hb)
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if less(redis.call('ZRANGE', key, mid, mid)[1], id) then lo = mid + 1 else hi = mid end
    end
    stop = lo
  end
  local start = math.max(stop - limit, 0)
  out[#out + 1] = stop - start
  if stop > start then
    local items = redis.call('ZRANGE', key, start, stop - 1, 'WITHSCORES')
    for i = #items - 1, 1, -2 do out[#out + 1] = items[i]; out[#out + 1] = items[i + 1] end
  end
end
return out
`);
