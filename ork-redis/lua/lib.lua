-- lib.lua: helpers shared by every ork script. src/scripts.rs assembles
-- it two ways: a Redis Functions library (Redis 7+: this file once, each
-- script's file as a function, every call starting with begin()), or, for
-- EVALSHA, this file prepended to each script's own file, so each script is
-- one chunk. Either way `KEYS` and `ARGV` are locals declared before this
-- file, and begin(KEYS, ARGV) runs before a script's own code: it sets the
-- per-call state below (the namespace, the caches), so a library's state
-- never leaks from one call to the next.
--
-- Conventions of every script:
--   KEYS[1]  "{ns}:queues", the namespace's queue registry (declared by every
--            script so that Redis Cluster routes it to the namespace's slot);
--            further KEYS declare the fixed keys a script touches.
--   ARGV[1]  the namespace prefix "{ns}:" (every key starts with it, so all of
--            a namespace's keys share one hash tag and one Cluster slot);
--   ARGV[2]  the default result TTL in ms, for records without one.
--   Script-specific ARGV start at 3.
-- Keys named by job ids (job hashes, dependency sets) and by queues found in
-- job hashes can't be declared ahead; they carry the same hash tag, so they
-- live in the same slot as KEYS[1].
--
-- Job hash fields (one hash per job, "{ns}:job:<id>"):
--   d   record blob (written by Rust, opaque here)   s  state code (below)
--   q   queue             p  priority (absent: 0)    t  enqueued at (ms)
--   x   result TTL ms (absent: ARGV[2])              u  unique key
--   af  allow_failure "1"  n  number of distinct deps  dl/ra delay / run-at
--   r   the attempt, "<fence>:<attempts>:<lost leases>:<started at>" (one
--       field: a claim writes it in one go); absent until the first claim
--   ft  finished at        pg progress (a success reads as 100)
--   e   last error         R  result                 cr cancel requested
--   h   "1" when dependants are registered            F  deps fired marker
-- A succeeded job's `d` has an empty payload (drop_payload), and its `e` is
-- "result dropped: Redis out of memory" when its result could not be kept.
-- A job's dependants set ({ns}:dn:<id>) expires with its hash.
--   C   "1" when run-time children are registered     ik idempotency key
-- A job's dependants set ({ns}:dn:<id>), its children set ({ns}:ch:<id>:
-- the jobs enqueued with it as their parent) and its idempotency key
-- ({ns}:ik:<key>, holding its id) expire with its hash.
--   hd  the task name, while a claim has set the job aside in {ns}:h:<queue>
--       because its task is paused (flow.lua)
--   lm  the record's running caps, "<cap>\t<name>" lines (claim.lua)
--   sl  the running caps whose slots the attempt holds, names by lines
--   cp  the running cap the job is parked on (also in {ns}:h:<queue>)
--   rl  the rate bucket, "<bucket>\t<count>\t<period ms>\t<burst>" or
--       "<bucket>\t@<limiter>" (a named limiter, {ns}:limiters)
--   rv  "1" while the job holds a reserved token (scheduled at its time)
--   S:<name>  the output of durable step <name> ("S:@checkpoint": the
--       checkpoint), written by step.lua; kept and expired with the hash.
--   pk  why the job is parked (a durable sleep or wait), set by a park
--       (finish.lua); meaningful while the job is scheduled
--   wk  "1": woken while it ran (wake.lua); its next park is made ready
-- Signals (signal.lua, listen.lua), under the signal key's own prefix:
-- {ns}:sig:<key>, a sorted set of the signals kept, scored by their seq,
-- each member "<seq>:<value>"; {ns}:sigw:<key>, a hash of the jobs
-- waiting on the key (job id -> until, ms).
-- State codes: w waiting, s scheduled, q queued, r running,
--              o succeeded, d dead, c cancelled.

-- Per call (set by begin()): the prefix, the default TTL, fixed keys.
local P, DEFAULT_TTL, K_QUEUES, K_UNIQUE, K_CANCELS, K_SCHEDULES, K_FLOW, K_PARKED_CAPS, K_CAPS
local K_LIMITERS

local function K_job(id) return P .. 'job:' .. id end
local function K_ready(q, p) return P .. 'q:' .. q .. ':' .. p end
local function K_sched(q) return P .. 's:' .. q end
local function K_wait(q) return P .. 'w:' .. q end
local function K_run(q) return P .. 'r:' .. q end
local function K_ok(q) return P .. 'o:' .. q end
local function K_dead(q) return P .. 'd:' .. q end
local function K_cancel(q) return P .. 'c:' .. q end
local function K_wake(q) return P .. 'k:' .. q end
local function K_dependants(id) return P .. 'dn:' .. id end
local function K_children(id) return P .. 'ch:' .. id end
local function K_idem(key) return P .. 'ik:' .. key end
local function K_done_deps(id) return P .. 'dd:' .. id end
local function K_workflow(id) return P .. 'wf:' .. id end
local function K_schedule(name) return P .. 'cron:' .. name end
local function K_signals(key) return P .. 'sig:' .. key end
local function K_listeners(key) return P .. 'sigw:' .. key end
-- Jobs of a queue set aside by a claim because their task is paused.
local function K_held(q) return P .. 'h:' .. q end
-- Running caps (`t:<task>`, `k:<key>`, `q:<queue>`): the jobs holding a
-- slot (a set), and the jobs parked until one frees (a list).
local function K_slots(cap) return P .. 'rl:' .. cap end
local function K_parked(cap) return P .. 'pk:' .. cap end
-- A rate-limit bucket's next token time (GCRA), ms with a fraction.
local function K_bucket(name) return P .. 'tb:' .. name end
-- The same bucket metering the actual hand-outs (see claim.lua).
local function K_release(name) return P .. 'tr:' .. name end
-- Job hash fields holding durable steps start with this.
local STEP_PREFIX = 'S:'

-- fn(a) or fn(a, b), computed once per script: key names in per-job loops.
local MEMO = {}
local function memo(fn, a, b)
  local m = MEMO[fn]
  if not m then
    m = {}
    MEMO[fn] = m
  end
  local v = m[a]
  if b == nil then
    if not v then
      v = fn(a)
      m[a] = v
    end
    return v
  end
  if not v then
    v = {}
    m[a] = v
  end
  local w = v[b]
  if not w then
    w = fn(a, b)
    v[b] = w
  end
  return w
end

-- Appends a field and its value to a list of HSET arguments.
local function append(list, field, value)
  list[#list + 1] = field
  list[#list + 1] = value
end

local NOW, NOW_S = nil, nil
-- The server clock in ms, read once per script.
local function now()
  if not NOW then
    local t = redis.call('TIME')
    NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return NOW
end

-- Numbers handed to redis.call are formatted with "%.14g" on every call,
-- which costs more than most commands: hot paths pass strings, made once
-- per script and value by these two.
local NUMS = {}
local function str(n)
  local s = NUMS[n]
  if not s then
    s = string.format('%d', n)
    NUMS[n] = s
  end
  return s
end

-- now(), as a string.
local function now_s()
  if not NOW_S then NOW_S = str(now()) end
  return NOW_S
end

-- The attempt field `r` of a job hash: fencing token, attempts, lost
-- leases (numbers, 0 when absent) and started at (a string, or nil).
local function run_of(r)
  if not r then return 0, 0, 0, nil end
  local f, a, l, st = string.match(r, '^(%d+):(%d+):(%d+):(%d*)$')
  if st == '' then st = nil end
  return tonumber(f) or 0, tonumber(a) or 0, tonumber(l) or 0, st
end

-- The fencing token in an attempt field (0 when absent).
local function fence_of(r)
  return tonumber(r and string.match(r, '^%d+')) or 0
end

-- An attempt field.
local function run_field(fence, attempts, lost, started)
  return str(fence) .. ':' .. str(attempts) .. ':' .. str(lost) .. ':' .. (started or '')
end

-- A bincode varint (bincode 2, standard config) at byte i of s: below 251
-- one byte, else a marker (251, 252, 253) and 2, 4 or 8 little-endian
-- bytes. Returns the value and the index after it, or nil.
local VARINT_WIDTH = { [251] = 2, [252] = 4, [253] = 8 }
local function varint_at(s, i)
  local b = string.byte(s, i)
  if not b then return nil end
  if b < 251 then return b, i + 1 end
  local n = VARINT_WIDTH[b]
  if not n or i + n > #s then return nil end
  local v = 0
  for j = i + n, i + 1, -1 do v = v * 256 + string.byte(s, j) end
  return v, i + n + 1
end

-- The task name in a record blob `d` (ork-core's src/stored/): format 2,
-- the field of tag 1 (absent: empty); format 1, the second bincode string
-- (after the empty id). nil for a blob of a format this does not know.
local TASK_TAG = 1

-- Where field `tag` of a format 2 blob is: its tag byte's index, its
-- value's index and length; false when the blob has no such field, nil
-- when the blob is cut short.
local function field_at(d, tag)
  local i = 2
  while i <= #d do
    local n, j = varint_at(d, i + 1)
    if not n or j + n - 1 > #d then return nil end
    if string.byte(d, i) == tag then return i, j, n end
    i = j + n
  end
  return false
end

local function task_of(d)
  local format = string.byte(d, 1)
  if format == 2 then
    local i, j, n = field_at(d, TASK_TAG)
    if i == nil then return nil end
    if not i then return '' end
    return string.sub(d, j, j + n - 1)
  end
  if format ~= 1 then return nil end
  local n, j = varint_at(d, 2)
  if not n then return nil end
  n, j = varint_at(d, j + n)
  if not n then return nil end
  return string.sub(d, j, j + n - 1)
end

-- The record blob `d` of a job that succeeded, without its payload (the
-- arguments are not needed again, and a finish should free memory); nil
-- when there is nothing to drop, or the blob is of a format this script
-- does not know (ork-core's src/stored/). Format 2: a 2, then fields, each
-- a tag byte, a varint length and the value; the payload (tag 3) is
-- dropped, which reads as an empty one. Format 1: a 1, then the record in
-- bincode, which starts with id (written empty), task, queue and payload,
-- each a varint length and its bytes; the payload becomes empty (one 0
-- byte), the rest stays as it was.
local PAYLOAD_TAG = 3
local function without_payload(d)
  local format = string.byte(d, 1)
  if format == 2 then
    local i, j, n = field_at(d, PAYLOAD_TAG)
    if not i then return nil end
    return string.sub(d, 1, i - 1) .. string.sub(d, j + n)
  end
  if format ~= 1 then return nil end
  local i = 2
  for _ = 1, 3 do
    local n, j = varint_at(d, i)
    if not n then return nil end
    i = j + n
  end
  local n, j = varint_at(d, i)
  if not n or n == 0 or j + n - 1 > #d then return nil end
  return string.sub(d, 1, i - 1) .. '\0' .. string.sub(d, j + n)
end

-- A hash value longer than this turns a small hash (one compact listpack)
-- into a hash table, several times larger; Redis never turns it back
-- (hash-max-listpack-value, 64 by default).
local COMPACT_VALUE = 64

-- The fields a success writes besides its state, from the job's record
-- blob `d` and its result: the record without its payload, and the result
-- `R`, unless Redis is full (`full`: the script's FULL, see
-- src/scripts.rs) and the result is larger than what dropping the payload
-- freed. Then the job still succeeds, without its result, and says so in
-- `e`: running it again would need the memory Redis does not have.
-- The second value tells whether the job hash should be compacted after
-- (compact_job): its record alone had made it a hash table.
local RESULT_DROPPED = 'result dropped: Redis out of memory'
local function succeeded_fields(d, result, full)
  local slim = d and without_payload(d)
  local freed = slim and (#d - #slim) or 0
  local keep = not (full and #result > freed)
  local fields = {}
  if slim then append(fields, 'd', slim) end
  if keep then append(fields, 'R', result) else append(fields, 'e', RESULT_DROPPED) end
  local compact = slim ~= nil and #d > COMPACT_VALUE and (not keep or #result <= COMPACT_VALUE)
  return fields, compact
end

-- Writes a job hash anew, with the same fields and TTL, so that Redis
-- stores it compactly again (a listpack), when every value fits.
local function compact_job(k)
  local all = redis.call('HGETALL', k)
  for i = 2, #all, 2 do
    if #all[i] > COMPACT_VALUE then return end
  end
  local ttl = redis.call('PTTL', k)
  redis.call('DEL', k)
  redis.call('HSET', k, unpack(all))
  if ttl > 0 then redis.call('PEXPIRE', k, ttl) end
end

-- Deferred writes, batched per key into variadic commands (one ZADD for a
-- whole finish batch). Order is kept per key, so a ZADD then a ZREM of the
-- same member still ends removed. Scripts never read a key after deferring
-- a write to it; flush() runs once at the end.
-- A write takes one or two arguments (a member, or a score and a member;
-- LREM's count and member), given as strings.
local OPS, OPS_KEYS = {}, {}
local WAKE = {}
local function defer(cmd, key, a, b)
  local log = OPS[key]
  if not log then
    log = {}
    OPS[key] = log
    OPS_KEYS[#OPS_KEYS + 1] = key
  end
  local last = log[#log]
  if not last or last[1] ~= cmd or cmd == 'LREM' then
    last = { cmd, {} }
    log[#log + 1] = last
  end
  local args = last[2]
  args[#args + 1] = a
  if b ~= nil then args[#args + 1] = b end
end

local function flush()
  for _, key in ipairs(OPS_KEYS) do
    for _, op in ipairs(OPS[key]) do
      local cmd, args = op[1], op[2]
      local n = #args
      for i = 1, n, 1000 do -- even chunks keep ZADD's score/member pairs whole
        redis.call(cmd, key, unpack(args, i, math.min(i + 999, n)))
      end
    end
  end
  OPS, OPS_KEYS = {}, {}
  -- One token per queue: an idle claimer blocked on the wake key returns.
  for q in pairs(WAKE) do redis.call('ZADD', K_wake(q), '0', 't') end
  WAKE = {}
end

-- The TTL of a finished job (ms), from its `x` field.
local function ttl_of(x)
  local t = tonumber(x)
  if not t or t <= 0 then t = DEFAULT_TTL end
  return t
end

-- The TTL of a finished job and the expiry of one finished now, as strings
-- (cached per `x`: a batch shares them).
local EXPIRY = {}
local function expiry_of(x)
  local e = EXPIRY[x or '']
  if not e then
    local ttl = ttl_of(x)
    e = { str(ttl), str(now() + ttl) }
    EXPIRY[x or ''] = e
  end
  return e[1], e[2]
end

-- A queue whose waiting, scheduled and ready indexes are being deleted
-- whole (purge): unindex() leaves them alone.
local SKIP_QUEUE = nil

-- Takes a job out of the index of its state `st`.
local function unindex(id, st, q, p)
  if q == SKIP_QUEUE and (st == 'w' or st == 's' or st == 'q') then return end
  if st == 'w' then defer('ZREM', K_wait(q), id)
  elseif st == 's' then defer('ZREM', K_sched(q), id)
  elseif st == 'q' then
    defer('LREM', K_ready(q, tonumber(p) or 0), '0', id)
    defer('LREM', K_held(q), '0', id)
  elseif st == 'r' then defer('ZREM', K_run(q), id)
  elseif st == 'o' then defer('ZREM', K_ok(q), id)
  elseif st == 'd' then defer('ZREM', K_dead(q), id)
  elseif st == 'c' then defer('ZREM', K_cancel(q), id)
  end
end

-- Queues a job (state q), after the other fields given. Wakes claimers.
local function make_ready(id, q, p, ...)
  redis.call('HSET', K_job(id), 's', 'q', ...)
  defer('RPUSH', K_ready(q, p or '0'), id)
  WAKE[q] = true
end

-- Schedules a job (state s) for `due`. Wakes claimers, whose wait may be
-- bounded by a later due time.
local function make_scheduled(id, q, due, ...)
  redis.call('HSET', K_job(id), 's', 's', ...)
  defer('ZADD', K_sched(q), str(due), id)
  WAKE[q] = true
end

-- When a job with this delay and run-at time is due.
local function due_of(delay, run_at)
  local due = now() + (tonumber(delay) or 0)
  local at = tonumber(run_at)
  if at and at > due then due = at end
  return due
end

-- A job the reaper put back (its lease ran out on the server's clock) is
-- still its attempt's while nobody has claimed it again: `rp` holds that
-- attempt's fence. When the holder turns out to be alive (it renews, or its
-- finish arrives late), the job runs again under that attempt. `r` is the
-- job's attempt field; returns the restored one, or nil when the job is not
-- such a job.
local function unreap(id, q, fence, r)
  local k = K_job(id)
  local g = redis.call('HMGET', k, 'rp', 'p', 'sl', 'cp')
  if tonumber(g[1]) ~= fence then return nil end
  redis.call('LREM', K_ready(q, tonumber(g[2]) or 0), '0', id)
  if g[4] then
    redis.call('LREM', K_held(q), '1', id)
    redis.call('HDEL', k, 'cp')
  end
  -- The attempt holds its slots again (the reap gave them back).
  if g[3] then
    for cap in string.gmatch(g[3], '[^\n]+') do redis.call('SADD', K_slots(cap), id) end
  end
  local fe, attempts, lost, started = run_of(r)
  local restored = run_field(fe, attempts + 1, math.max(lost - 1, 0), started)
  redis.call('HSET', k, 's', 'r', 'r', restored)
  redis.call('HDEL', k, 'rp', 'e')
  return restored
end

-- Moves up to n jobs parked on running cap `cap` to the front of their
-- ready lists, in the order they were parked; entries whose job is no
-- longer parked there (cancelled, claimed since) are dropped.
local function unpark(cap, n)
  local back = {}
  while #back < n do
    local id = redis.call('LPOP', K_parked(cap))
    if not id then break end
    local g = redis.call('HMGET', K_job(id), 's', 'cp', 'q', 'p')
    if g[1] == 'q' and g[2] == cap then
      redis.call('HDEL', K_job(id), 'cp')
      redis.call('LREM', K_held(g[3]), '1', id)
      back[#back + 1] = { id, g[3], tonumber(g[4]) or 0 }
    end
  end
  for j = #back, 1, -1 do
    local b = back[j]
    redis.call('LPUSH', K_ready(b[2], b[3]), b[1])
    WAKE[b[2]] = true
  end
end

-- Gives back the slots of an attempt (`sl`: cap names by lines) that ended
-- or lost its lease; each frees one parked job of its cap.
local function release_slots(id, sl)
  for cap in string.gmatch(sl, '[^\n]+') do
    if redis.call('SREM', K_slots(cap), id) == 1 then unpark(cap, 1) end
  end
end

-- Queues (or schedules) a waiting job whose dependencies are all done.
local function release(id)
  local f = redis.call('HMGET', K_job(id), 'q', 'p', 'dl', 'ra')
  redis.call('DEL', K_done_deps(id))
  defer('ZREM', K_wait(f[1]), id)
  local due = due_of(f[3], f[4])
  if due > now() then
    make_scheduled(id, f[1], due)
  else
    make_ready(id, f[1], f[2])
  end
end

-- Dependants seen waiting by this script: id to { n = its number of
-- deps, done = the size of its done-set once read }, or false once it is
-- no longer waiting (released, or ended by a failed dependency). A join
-- whose inputs end in one batch is read once, not once per input.
local WAITING = {}
local function waiting_dependant(dep)
  local w = WAITING[dep]
  if w == nil then
    local ds = redis.call('HMGET', K_job(dep), 's', 'n')
    w = ds[1] == 'w' and { n = tonumber(ds[2]) or 0 } or false
    WAITING[dep] = w
  end
  return w
end

-- The fields terminate() needs, in this order.
local TERM_FIELDS = { 's', 'q', 'p', 'u', 'af', 'x', 'h', 'C', 'ik' }

-- Moves a job to a terminal state ('o', 'd' or 'c'): indexes, TTL, unique
-- key, then its dependants, exactly once each: a releasing end adds the job
-- to each waiting dependant's done-set, and the dependant is released when
-- the set is complete and its fired-marker F was not yet set; a failing end
-- makes waiting dependants dead (or cancelled), recursively.
-- `pre` is the job's TERM_FIELDS if the caller already read them; `extra`
-- are more fields to write with the state.
local function terminate(id, st, err, pre, extra)
  local stack = { { id, st, err, pre, extra } }
  while #stack > 0 do
    local item = table.remove(stack)
    local jid, jst, jerr = item[1], item[2], item[3]
    local k = K_job(jid)
    local f = item[4] or redis.call('HMGET', k, unpack(TERM_FIELDS))
    local q = f[2]
    if f[1] and q then
      unindex(jid, f[1], q, f[3])
      local fields = { 's', jst, 'ft', now_s() }
      if jerr then
        fields[#fields + 1] = 'e'
        fields[#fields + 1] = jerr
      end
      if item[5] then
        for _, v in ipairs(item[5]) do fields[#fields + 1] = v end
      end
      redis.call('HSET', k, unpack(fields))
      -- The dependants set lives as long as the job: a dead job retried
      -- by hand settles its dependants again when it ends.
      local ik = f[9] and redis.call('GET', K_idem(f[9])) == jid
      if jst == 'd' then
        redis.call('PERSIST', k)
        if f[7] then redis.call('PERSIST', K_dependants(jid)) end
        if f[8] then redis.call('PERSIST', K_children(jid)) end
        if ik then redis.call('PERSIST', K_idem(f[9])) end
        defer('ZADD', K_dead(q), now_s(), jid)
      else
        local ttl, expires = expiry_of(f[6])
        redis.call('PEXPIRE', k, ttl)
        if f[7] then redis.call('PEXPIRE', K_dependants(jid), ttl) end
        if f[8] then redis.call('PEXPIRE', K_children(jid), ttl) end
        if ik then redis.call('PEXPIRE', K_idem(f[9]), ttl) end
        defer('ZADD', jst == 'o' and K_ok(q) or K_cancel(q), expires, jid)
      end
      if f[4] and redis.call('HGET', K_UNIQUE, f[4]) == jid then
        redis.call('HDEL', K_UNIQUE, f[4])
      end
      if f[1] == 'w' then redis.call('DEL', K_done_deps(jid)) end
      if f[7] then
        local dependants = redis.call('SMEMBERS', K_dependants(jid))
        local releases = jst == 'o' or (jst == 'd' and f[5] == '1')
        for _, dep in ipairs(dependants) do
          local w = waiting_dependant(dep)
          if w then
            if releases then
              local added = redis.call('SADD', K_done_deps(dep), jid)
              if not w.done then
                w.done = redis.call('SCARD', K_done_deps(dep))
              elseif added == 1 then
                w.done = w.done + 1
              end
              if w.done >= w.n and redis.call('HSETNX', K_job(dep), 'F', '1') == 1 then
                WAITING[dep] = false
                release(dep)
              end
            elseif jst == 'c' then
              WAITING[dep] = false
              stack[#stack + 1] = { dep, 'c', 'dependency ' .. jid .. ' was cancelled' }
            else
              WAITING[dep] = false
              stack[#stack + 1] = { dep, 'd', 'dependency ' .. jid .. ' failed: ' .. (jerr or '') }
            end
          end
        end
      end
    end
  end
end

-- Settles the dependencies of waiting job `id` as they stand now (at
-- enqueue, and at a retry by hand), in order: one that succeeded (or died
-- with allow_failure) counts at once, exactly like a later completion; one
-- that died, is unknown or was cancelled ends the job (dead or cancelled,
-- naming it); the job registers with the others and waits. With all done
-- it is released, once (the fired-marker F): scheduled for its own delay,
-- or, with `at_once` (a retry by hand), queued at once.
local function settle_deps(id, deps, at_once)
  for _, d in ipairs(deps) do
    local dk = K_job(d)
    local ds = redis.call('HMGET', dk, 's', 'af', 'e')
    if ds[1] == 'o' or (ds[1] == 'd' and ds[2] == '1') then
      redis.call('SADD', K_done_deps(id), d)
    elseif ds[1] == 'c' then
      terminate(id, 'c', 'dependency ' .. d .. ' was cancelled')
      return
    elseif ds[1] == 'd' or not ds[1] then
      local why = ds[1] and (ds[3] or '') or 'unknown job'
      terminate(id, 'd', 'dependency ' .. d .. ' failed: ' .. why)
      return
    else
      redis.call('SADD', K_dependants(d), id)
      redis.call('HSET', dk, 'h', '1')
    end
  end
  if redis.call('SCARD', K_done_deps(id)) >= #deps
    and redis.call('HSETNX', K_job(id), 'F', '1') == 1 then
    if at_once then
      local f = redis.call('HMGET', K_job(id), 'q', 'p')
      redis.call('DEL', K_done_deps(id))
      defer('ZREM', K_wait(f[1]), id)
      make_ready(id, f[1], f[2])
    else
      release(id)
    end
  end
end

-- Records job `id` as a run-time child of `parent`. The children set
-- expires with the parent's hash: at once if the parent has ended
-- already, with the default TTL if it is unknown.
-- Returns whether the parent is being cancelled (cancelled, or running
-- with a cancel request): its new children are then cancelled at once.
-- A batch of children of one parent reads and marks the parent once.
local CHILD_OF = {}
local function add_child(parent, id)
  local kc = K_children(parent)
  redis.call('SADD', kc, id)
  local c = CHILD_OF[parent]
  if not c then
    local pk = K_job(parent)
    local pttl = redis.call('PTTL', pk)
    local f = redis.call('HMGET', pk, 's', 'cr')
    if pttl ~= -2 then redis.call('HSET', pk, 'C', '1') end
    c = { pttl = pttl, stopping = f[1] == 'c' or (f[1] == 'r' and f[2] ~= false) }
    CHILD_OF[parent] = c
  end
  if c.pttl == -2 then
    redis.call('PEXPIRE', kc, DEFAULT_TTL)
  elseif c.pttl >= 0 then
    redis.call('PEXPIRE', kc, math.max(c.pttl, 1))
  end
  return c.stopping
end

-- Cancels job `id` and, recursively, its run-time children: those not
-- started end cancelled (with their waiting dependants), running ones get
-- a cancel request ("cr"), announced on the cancels channel so that their
-- workers stop them at once. Descends from every job that has not
-- succeeded or died. The caller flushes.
local function cancel_tree(id)
  local stack = { { id, nil } }
  local seen = {}
  while #stack > 0 do
    local item = table.remove(stack)
    local jid, parent = item[1], item[2]
    if not seen[jid] then
      seen[jid] = true
      local f = redis.call('HMGET', K_job(jid), 's', 'C')
      local st = f[1]
      if st and st ~= 'o' and st ~= 'd' then
        if st == 'r' then
          redis.call('HSET', K_job(jid), 'cr', '1')
          -- Best effort: a user without the channel's permission still
          -- cancels (heartbeats carry the request).
          redis.pcall('PUBLISH', K_CANCELS, jid)
        elseif st ~= 'c' then
          terminate(jid, 'c', parent and ('parent ' .. parent .. ' was cancelled') or nil)
        end
        if f[2] then
          for _, child in ipairs(redis.call('SMEMBERS', K_children(jid))) do
            stack[#stack + 1] = { child, jid }
          end
        end
      end
    end
  end
end

-- Registers queue names seen by this script in the namespace's registry.
local SEEN_QUEUES = {}
local function register_queue(q)
  if not SEEN_QUEUES[q] then
    SEEN_QUEUES[q] = true
    redis.call('SADD', K_QUEUES, q)
  end
end

-- Expired entries of the finished indexes (their job hashes expired too).
local function trim_finished(q)
  redis.call('ZREMRANGEBYSCORE', K_ok(q), '-inf', now_s())
  redis.call('ZREMRANGEBYSCORE', K_cancel(q), '-inf', now_s())
end

-- Every known queue, sorted.
local function all_queues()
  local qs = redis.call('SMEMBERS', K_QUEUES)
  table.sort(qs)
  return qs
end

-- Stores the records in ARGV from index `i` (a count, then the records as
-- enqueue.lua documents them), in order, each at most once (by id, and by
-- unique key while its holder is not finished). Returns what enqueue.lua
-- returns. The caller flushes.
local NO_DEPS = {}
local function enqueue_records(i)
  local out = {}
  local count = tonumber(ARGV[i])
  local t = now_s()
  i = i + 1
  for r = 1, count do
    local id, blob, q, nopts = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
    local p, u, delay, run_at, ttl, af = '0', '', '0', '', '', '0'
    local pa, ik, lm, rl = nil, nil, nil, nil
    local deps, seen = NO_DEPS, nil
    for j = i + 4, i + 2 + 2 * nopts, 2 do
      local o, v = ARGV[j], ARGV[j + 1]
      if o == 'dep' then
        if not seen then deps, seen = {}, {} end
        if not seen[v] then
          seen[v] = true
          deps[#deps + 1] = v
        end
      elseif o == 'p' then p = v
      elseif o == 'u' then u = v
      elseif o == 'dl' then delay = v
      elseif o == 'ra' then run_at = v
      elseif o == 'x' then ttl = v
      elseif o == 'af' then af = v
      elseif o == 'pa' then pa = v
      elseif o == 'ik' then ik = v
      elseif o == 'lm' then lm = v
      elseif o == 'rl' then rl = v
      end
    end
    i = i + 4 + 2 * nopts

    local k = K_job(id)
    local holder = nil
    if redis.call('EXISTS', k) == 1 then
      holder = id
    end
    if not holder and ik then
      local h = redis.call('GET', K_idem(ik))
      if h and redis.call('EXISTS', K_job(h)) == 1 then holder = h end
    end
    if not holder and u ~= '' then
      local h = redis.call('HGET', K_UNIQUE, u)
      if h then
        local hs = redis.call('HGET', K_job(h), 's')
        if hs and hs ~= 'o' and hs ~= 'd' and hs ~= 'c' then holder = h end
      end
    end

    if holder then
      out[r] = holder
    else
      out[r] = 1
      register_queue(q)
      if nopts == 0 then
        -- The common case, without building an argument list.
        redis.call('HSET', k, 's', 'q', 'd', blob, 'q', q, 't', t)
        defer('RPUSH', memo(K_ready, q, '0'), id)
        WAKE[q] = true
      else
        local fields = { 'd', blob, 'q', q, 't', t }
        if p ~= '0' then append(fields, 'p', p) end
        if ttl ~= '' then append(fields, 'x', ttl) end
        if af == '1' then append(fields, 'af', '1') end
        if lm then append(fields, 'lm', lm) end
        if rl then append(fields, 'rl', rl) end
        if u ~= '' then
          append(fields, 'u', u)
          redis.call('HSET', K_UNIQUE, u, id)
        end
        if ik then
          append(fields, 'ik', ik)
          redis.call('SET', K_idem(ik), id)
        end
        local stopping = pa and add_child(pa, id)
        if #deps == 0 then
          local due = due_of(delay, run_at)
          if due > now() then
            make_scheduled(id, q, due, unpack(fields))
          else
            make_ready(id, q, p, unpack(fields))
          end
        else
          append(fields, 'n', #deps)
          if delay ~= '0' then append(fields, 'dl', delay) end
          if run_at ~= '' then append(fields, 'ra', run_at) end
          redis.call('HSET', k, 's', 'w', unpack(fields))
          defer('ZADD', K_wait(q), t, id)
          settle_deps(id, deps, false)
        end
        if stopping then
          local s = redis.call('HGET', k, 's')
          if s ~= 'o' and s ~= 'd' and s ~= 'c' then
            terminate(id, 'c', 'parent ' .. pa .. ' was cancelled')
          end
        end
      end
    end
  end
  return out
end

-- Starts a call: the script's keys and arguments, and fresh per-call state
-- (a function library keeps its upvalues from one call to the next).
local function begin(keys, args)
  KEYS, ARGV = keys, args
  P = args[1]
  DEFAULT_TTL = tonumber(args[2])
  K_QUEUES, K_UNIQUE = P .. 'queues', P .. 'uniq'
  K_CANCELS, K_SCHEDULES = P .. 'cancels', P .. 'crons'
  K_FLOW = P .. 'flow'
  K_PARKED_CAPS, K_CAPS = P .. 'pkc', P .. 'caps'
  K_LIMITERS = P .. 'limiters'
  MEMO, NUMS, EXPIRY, WAITING, CHILD_OF, SEEN_QUEUES = {}, {}, {}, {}, {}, {}
  NOW, NOW_S, SKIP_QUEUE = nil, nil, nil
  OPS, OPS_KEYS, WAKE = {}, {}, {}
end
