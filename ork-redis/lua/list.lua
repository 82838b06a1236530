-- list.lua: pages through job ids by queue and state.
--
-- KEYS: [1] {ns}:queues
-- ARGV: [1] prefix  [2] default result TTL ms  [3] queue ('' every queue)
--       [4] state code ('' every state)  [5] offset  [6] limit
-- Returns: job ids.
--
-- Order: queues by name; states in life order (waiting, scheduled,
-- queued, running, succeeded, dead, cancelled); within a state, the
-- index's order: waiting by enqueue time, scheduled by due time, queued by
-- priority then first in first out (then those set aside because their
-- task is paused), running by lease deadline, succeeded and
-- cancelled by expiry, dead by the time they died.

local offset, need = tonumber(ARGV[5]), tonumber(ARGV[6])
local out = {}

local function take(key, is_list)
  if need <= 0 then return end
  local n = is_list and redis.call('LLEN', key) or redis.call('ZCARD', key)
  if offset >= n then
    offset = offset - n
    return
  end
  local ids
  if is_list then
    ids = redis.call('LRANGE', key, offset, offset + need - 1)
  else
    ids = redis.call('ZRANGE', key, offset, offset + need - 1)
  end
  offset = 0
  for _, id in ipairs(ids) do out[#out + 1] = id end
  need = need - #ids
end

local states = { 'w', 's', 'q', 'r', 'o', 'd', 'c' }
if ARGV[4] ~= '' then states = { ARGV[4] } end
local queues = all_queues()
if ARGV[3] ~= '' then queues = { ARGV[3] } end

for _, q in ipairs(queues) do
  for _, st in ipairs(states) do
    if st == 'w' then take(K_wait(q))
    elseif st == 's' then take(K_sched(q))
    elseif st == 'q' then
      for p = 9, 0, -1 do take(K_ready(q, p), true) end
      take(K_held(q), true)
    elseif st == 'r' then take(K_run(q))
    elseif st == 'o' then
      trim_finished(q)
      take(K_ok(q))
    elseif st == 'd' then take(K_dead(q))
    elseif st == 'c' then
      trim_finished(q)
      take(K_cancel(q))
    end
  end
end
return out
