-- retry.lua: queues a dead or cancelled job again with a fresh attempt count.
--
-- KEYS: [1] {ns}:queues  [2] {ns}:uniq
-- ARGV: [1] prefix  [2] default result TTL ms  [3] job id
--       [4..] its dependencies (from its record)
-- Returns: 1 retried, 0 the job is in another state, -1 unknown job.
--
-- The job no longer expires, takes its unique key again, and its last
-- error stays until a new attempt ends. It then goes through its
-- dependencies again like a new job (settle_deps): it waits for those not
-- finished, with a fresh done-set and fired-marker, ends again if one is
-- still dead or cancelled, and is queued at once (its delay is not applied
-- again) when none is left.

-- The distinct values of ARGV[from .. from+n-1], in order.
local function distinct_args(from, n)
  local out, seen = {}, {}
  for j = from, from + n - 1 do
    local v = ARGV[j]
    if not seen[v] then
      seen[v] = true
      out[#out + 1] = v
    end
  end
  return out
end

local id = ARGV[3]
local k = K_job(id)
local f = redis.call('HMGET', k, 's', 'q', 'p', 'u', 'h', 'r', 'C', 'ik')
if not f[1] then return -1 end
if (f[1] ~= 'd' and f[1] ~= 'c') or not f[2] then return 0 end
local q = f[2]
redis.call('PERSIST', k)
if f[5] then redis.call('PERSIST', K_dependants(id)) end
if f[7] then redis.call('PERSIST', K_children(id)) end
if f[8] then
  local ki = K_idem(f[8])
  local h = redis.call('GET', ki)
  if h == id or not h or redis.call('EXISTS', K_job(h)) == 0 then
    redis.call('SET', ki, id)
  end
end
unindex(id, f[1], q, f[3])
redis.call('HDEL', k, 'cr', 'ft', 'F')
redis.call('DEL', K_done_deps(id))
if f[4] then redis.call('HSET', K_UNIQUE, f[4], id) end

local deps = distinct_args(4, #ARGV - 3)
-- A fresh attempt count and no lost leases; the fence keeps growing.
local fence, _, _, started = run_of(f[6])
redis.call('HSET', k, 's', 'w', 'r', run_field(fence, 0, 0, started), 'n', str(#deps))
defer('ZADD', K_wait(q), now_s(), id)
settle_deps(id, deps, true)
flush()
return 1
