-- claim.lua: hands out up to `max` ready jobs, each with a lease.
--
-- KEYS: [1] {ns}:queues, then for each queue: its ten ready lists
--       ({ns}:q:<queue>:9 .. :0), {ns}:s:<queue>, {ns}:r:<queue>, {ns}:k:<queue>
-- ARGV: [1] prefix  [2] default result TTL ms  [3] max  [4] lease ms
--       [5..] queues, the first one first
-- Returns: { next_due_ms, then per claimed job: id, blob, attempt, lost, fence }
--       next_due_ms: when nothing was claimed, ms until the earliest
--       scheduled job of these queues is due (-1: none); else -1.
--
-- Per queue: due scheduled jobs are made ready first; then priority 9 to 0,
-- first in, first out. A claimed job is running with fence+1, attempts+1
-- and its lease deadline in {ns}:r:<queue>. A queue entry without a job
-- record (garbage pushed into the list) is dead-lettered with the reason
-- "undecodable job record"; an entry whose job is not queued (a stale
-- duplicate) is dropped, the job lives on in its own state.
--
-- Pauses ({ns}:flow, see flow.lua): a paused queue is skipped whole (its
-- scheduled jobs are not promoted and do not count for next_due). A job of
-- a paused task is set aside, still queued, in {ns}:h:<queue> with its
-- task in field hd, and the claim goes on with the next entry: each job is
-- set aside once, so held jobs cost nothing to later claims.
--
-- Running caps: a job's own (field lm, from its record) and its queue's
-- ({ns}:flow c:<queue>). Each cap's slots are the set {ns}:rl:<cap> of the
-- ids holding one. A job is claimed only if every cap has a free slot, and
-- then takes one of each (field sl names them); otherwise it is parked on
-- the full cap: listed in {ns}:pk:<cap> (the order slots free up in) and
-- in {ns}:h:<queue> (it still counts as queued), field pk naming the cap.
-- finish.lua and reap.lua give the slots back (release_slots in lib.lua).

local max = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
local queues = {}
for j = 5, #ARGV do queues[#queues + 1] = ARGV[j] end
local out = { -1 }
local got = 0

-- Rate limits (GCRA): takes a token from the bucket of field rl (see
-- lib.lua); returns true, or false with TOKEN_DUE set to when the token
-- reserved for the job is (the bucket's state moves past it either way).
-- A job that already holds a reserved token (`reserved`) takes none. Every
-- hand-out also passes the same rate on a second bucket that only moves
-- when a job is handed out ({ns}:tr:<bucket>): reserved jobs claimed late
-- (a busy claimer) are spread out again rather than handed out together,
-- so no span of time sees more than the rate and the burst allow. A named
-- limiter that is not defined does not limit.
local LIMITER_DEFS = {}
local TOKEN_DUE = nil
local function take_token(rl, reserved)
  local bucket, spec = string.match(rl, '^([^\t]*)\t(.*)$')
  if not bucket then return true end
  if string.sub(spec, 1, 1) == '@' then
    local name = string.sub(spec, 2)
    local def = LIMITER_DEFS[name]
    if def == nil then
      def = redis.call('HGET', K_LIMITERS, name) or false
      LIMITER_DEFS[name] = def
    end
    if not def then return true end
    spec = def
  end
  local count, period, burst = string.match(spec, '^(%d+)\t(%d+)\t(%d+)$')
  if not count then return true end
  local t = tonumber(period) / tonumber(count)
  local tau = (tonumber(burst) - 1) * t
  local n = now()
  if not reserved then
    local tat = tonumber(redis.call('GET', K_bucket(bucket))) or n
    if tat < n then tat = n end
    local next_tat = tat + t
    redis.call('SET', K_bucket(bucket), string.format('%.3f', next_tat),
      'PX', math.ceil(next_tat - n) + 1000)
    if tat - tau > n then
      TOKEN_DUE = math.ceil(tat - tau)
      return false
    end
  end
  local rtat = tonumber(redis.call('GET', K_release(bucket))) or n
  if rtat < n then rtat = n end
  if rtat - tau > n then
    TOKEN_DUE = math.ceil(rtat - tau)
    return false
  end
  redis.call('SET', K_release(bucket), string.format('%.3f', rtat + t),
    'PX', math.ceil(rtat + t - n) + 1000)
  return true
end

-- Jobs of paused tasks set aside by this claim, and the most it sets aside.
local SET_ASIDE, SET_ASIDE_MAX = 0, 1000

-- Paused queues and tasks: usually none, one lookup.
local PAUSED_Q, PAUSED_T, QUEUE_CAP = {}, nil, {}
do
  local pz = redis.call('HGETALL', K_FLOW)
  for j = 1, #pz, 2 do
    local f = pz[j]
    local kind, name = string.sub(f, 1, 2), string.sub(f, 3)
    if kind == 'q:' then PAUSED_Q[name] = true
    elseif kind == 't:' then
      PAUSED_T = PAUSED_T or {}
      PAUSED_T[name] = true
    elseif kind == 'c:' then QUEUE_CAP[name] = tonumber(pz[j + 1])
    end
  end
  if #pz > 0 then
    local kept = {}
    for _, q in ipairs(queues) do
      if not PAUSED_Q[q] then kept[#kept + 1] = q end
    end
    queues = kept
  end
end

local function promote(q)
  local ids = redis.call('ZRANGEBYSCORE', K_sched(q), '-inf', now_s(), 'LIMIT', 0, 1000)
  if #ids == 0 then return end
  local lists = {}
  for _, id in ipairs(ids) do
    local k = K_job(id)
    local f = redis.call('HMGET', k, 's', 'p')
    if f[1] == 's' then
      redis.call('HSET', k, 's', 'q')
      local p = tonumber(f[2]) or 0
      lists[p] = lists[p] or {}
      table.insert(lists[p], id)
    end
  end
  redis.call('ZREM', K_sched(q), unpack(ids))
  for p, l in pairs(lists) do redis.call('RPUSH', K_ready(q, p), unpack(l)) end
end

local function dead_letter_garbage(id, q, why)
  register_queue(q) -- so that counts and lists show it
  redis.pcall('HSET', K_job(id), 's', 'd', 'q', q, 't', now_s(), 'ft', now_s(), 'e', why)
  defer('ZADD', K_dead(q), now_s(), id)
end

-- The lease deadline of this claim, as a string (one for the whole batch).
local DEADLINE = nil

local function take(id, q)
  local k = K_job(id)
  local f = redis.pcall('HMGET', k, 's', 'd', 'r', 'pg', 'hd', 'lm', 'cp', 'rl', 'rv')
  if f.err then
    -- Not a hash: listed among the dead letters, looked up as undecodable.
    register_queue(q)
    defer('ZADD', K_dead(q), now_s(), id)
    return
  end
  if not f[1] then
    -- Dead-letter it under a readable id: the entry may be any bytes.
    local safe = id
    if not string.match(id, '^[%w%._:-]+$') or #id > 200 then
      safe = 'garbage:' .. string.gsub(string.sub(id, 1, 64), '.', function(c)
        return string.format('%02x', string.byte(c))
      end)
    end
    dead_letter_garbage(safe, q, 'undecodable job record: no job record for this queue entry')
    return
  end
  if f[1] ~= 'q' then return end
  if not f[2] then
    terminate(id, 'd', 'undecodable job record: the job has no record data')
    return
  end
  if PAUSED_T then
    local task = task_of(f[2])
    if task and PAUSED_T[task] then
      redis.call('HSET', k, 'hd', task)
      defer('RPUSH', memo(K_held, q), id)
      SET_ASIDE = SET_ASIDE + 1
      return
    end
  end
  local caps = nil
  if f[6] then
    caps = {}
    for n, cap in string.gmatch(f[6], '(%d+)\t([^\n]+)') do caps[#caps + 1] = { cap, tonumber(n) } end
  end
  if QUEUE_CAP[q] then
    caps = caps or {}
    caps[#caps + 1] = { 'q:' .. q, QUEUE_CAP[q] }
  end
  local held = nil
  if caps then
    for _, c in ipairs(caps) do
      if redis.call('SCARD', K_slots(c[1])) >= c[2] then
        -- Full: parked until a slot frees.
        redis.call('HSET', k, 'cp', c[1])
        redis.call('RPUSH', K_parked(c[1]), id)
        defer('RPUSH', memo(K_held, q), id)
        redis.call('SADD', K_PARKED_CAPS, c[1])
        redis.call('HSET', K_CAPS, c[1], c[2])
        SET_ASIDE = SET_ASIDE + 1
        return
      end
    end
  end
  if f[8] then
    if not take_token(f[8], f[9] ~= false and f[9] ~= nil) then
      -- Its token is reserved: due again at its time.
      if not f[9] then redis.call('HSET', k, 'rv', '1') end
      make_scheduled(id, q, TOKEN_DUE)
      SET_ASIDE = SET_ASIDE + 1
      return
    end
    if f[9] then redis.call('HDEL', k, 'rv') end
  end
  if caps then
    local names = {}
    for _, c in ipairs(caps) do
      redis.call('SADD', K_slots(c[1]), id)
      names[#names + 1] = c[1]
    end
    held = table.concat(names, '\n')
  end
  local fence, attempt, lost = run_of(f[3])
  fence, attempt = fence + 1, attempt + 1
  if f[4] or f[5] or f[7] then redis.call('HDEL', k, 'pg', 'hd', 'cp') end
  if held then
    redis.call('HSET', k, 's', 'r', 'r', run_field(fence, attempt, lost, now_s()), 'sl', held)
  else
    redis.call('HSET', k, 's', 'r', 'r', run_field(fence, attempt, lost, now_s()))
  end
  if not DEADLINE then DEADLINE = str(now() + lease) end
  defer('ZADD', memo(K_run, q), DEADLINE, id)
  got = got + 1
  out[#out + 1] = id
  out[#out + 1] = f[2]
  out[#out + 1] = attempt
  out[#out + 1] = lost
  out[#out + 1] = fence
end

local function claim_from(q)
  local levels = { 0 }
  if redis.call('EXISTS', K_ready(q, 9), K_ready(q, 8), K_ready(q, 7), K_ready(q, 6),
      K_ready(q, 5), K_ready(q, 4), K_ready(q, 3), K_ready(q, 2), K_ready(q, 1)) > 0 then
    levels = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0 }
  end
  for _, p in ipairs(levels) do
    while true do
      local want = max - got
      if want <= 0 then return end
      if SET_ASIDE >= SET_ASIDE_MAX then
        -- Bounded work per claim: the next claim goes on from here.
        WAKE[q] = true
        return
      end
      local ids = redis.pcall('LPOP', K_ready(q, p), want)
      if type(ids) == 'table' and ids.err then
        -- Not a list (written by hand): skip it, serve the rest.
        redis.log(redis.LOG_WARNING, 'ork: ' .. K_ready(q, p) .. ': ' .. ids.err)
        break
      elseif not ids then
        break
      end
      for _, id in ipairs(ids) do take(id, q) end
      if #ids < want then break end
    end
  end
end

for _, q in ipairs(queues) do
  if got >= max then break end
  promote(q)
  claim_from(q)
end

if got >= max then
  -- Pass the baton: work is left, so wake another idle claimer.
  for _, q in ipairs(queues) do
    if redis.call('EXISTS', K_ready(q, 0), K_ready(q, 1), K_ready(q, 2), K_ready(q, 3), K_ready(q, 4),
        K_ready(q, 5), K_ready(q, 6), K_ready(q, 7), K_ready(q, 8), K_ready(q, 9)) > 0 then
      WAKE[q] = true
    end
  end
elseif got == 0 then
  local due = nil
  for _, q in ipairs(queues) do
    local first = redis.call('ZRANGE', K_sched(q), 0, 0, 'WITHSCORES')
    if first[2] then
      local d = tonumber(first[2])
      if not due or d < due then due = d end
    end
  end
  if due then out[1] = math.max(due - now(), 0) end
end
flush()
return out
