-- flow.lua: pauses and resumes queues and tasks, lists what is paused.
--
-- KEYS: [1] {ns}:queues  [2] {ns}:flow
-- ARGV: [1] prefix  [2] default result TTL ms  [3] mode, then
--       set: [4] kind ('q' queue, 't' task) [5] name [6] '1' pause / '0' resume
--       list: nothing
--       cap: [4] queue [5] its running cap ('' none)
--       caps: nothing
--       limiter: [4] name [5] "<count>\t<period ms>\t<burst>" ('' deletes)
--       limiters: nothing
-- Returns: limiter: 1; limiters: per limiter (by name) its name and
--       definition; set: 1 changed, 0 it was already so; list: per paused target
--       (queues by name, then tasks by name) three entries: kind, name,
--       how many jobs it holds back; cap: 1; caps: per running cap that
--       has parked jobs, or had and still has attempts running (by name)
--       four entries: name, cap, running, parked.
--
-- {ns}:flow is a hash: field "q:<queue>" or "t:<task>" for each paused
-- target. claim.lua skips a paused queue, and sets a paused task's jobs
-- aside in {ns}:h:<queue> (job field hd: the task). Resuming a task puts
-- its held jobs back at the front of their ready lists, in the order they
-- were set aside; an entry whose job is no longer a queued job of that
-- task (cancelled, purged, claimed since) is dropped.

local mode = ARGV[3]

-- Jobs of task t held in queue q: the ids still held, in order.
local function held_of(q, t)
  local out = {}
  for _, id in ipairs(redis.call('LRANGE', K_held(q), 0, -1)) do
    local f = redis.call('HMGET', K_job(id), 's', 'hd', 'p')
    if f[1] == 'q' and f[2] == t then out[#out + 1] = { id, f[3] } end
  end
  return out
end

if mode == 'set' then
  local kind, name, pause = ARGV[4], ARGV[5], ARGV[6] == '1'
  local field = kind .. ':' .. name
  if pause then
    return redis.call('HSETNX', K_FLOW, field, now())
  end
  if redis.call('HDEL', K_FLOW, field) == 0 then return 0 end
  if kind == 'q' then
    WAKE[name] = true
  else
    for _, q in ipairs(all_queues()) do
      local key = K_held(q)
      if redis.call('EXISTS', key) == 1 then
        local keep, back = {}, {}
        for _, id in ipairs(redis.call('LRANGE', key, 0, -1)) do
          local f = redis.call('HMGET', K_job(id), 's', 'hd', 'p', 'cp')
          if f[1] == 'q' and f[2] == name then
            redis.call('HDEL', K_job(id), 'hd')
            back[#back + 1] = { id, tonumber(f[3]) or 0 }
          elseif f[1] == 'q' and (f[2] or f[4]) then
            -- Held for another paused task, or parked on a running cap.
            keep[#keep + 1] = id
          end
        end
        redis.call('DEL', key)
        if #keep > 0 then redis.call('RPUSH', key, unpack(keep)) end
        for j = #back, 1, -1 do
          redis.call('LPUSH', K_ready(q, back[j][2]), back[j][1])
        end
        if #back > 0 then WAKE[q] = true end
      end
    end
  end
  flush()
  return 1
elseif mode == 'list' then
  local all = redis.call('HGETALL', K_FLOW)
  local fields = {}
  for j = 1, #all, 2 do
    -- Pauses only (c:<queue> is a queue's running cap).
    local kind = string.sub(all[j], 1, 2)
    if kind == 'q:' or kind == 't:' then fields[#fields + 1] = all[j] end
  end
  table.sort(fields)
  local out = {}
  for _, f in ipairs(fields) do
    local kind, name = string.sub(f, 1, 1), string.sub(f, 3)
    local n = 0
    if kind == 'q' then
      for p = 0, 9 do n = n + redis.call('LLEN', K_ready(name, p)) end
    else
      for _, q in ipairs(all_queues()) do n = n + #held_of(q, name) end
    end
    out[#out + 1] = kind
    out[#out + 1] = name
    out[#out + 1] = n
  end
  return out
elseif mode == 'cap' then
  local q, cap = ARGV[4], tonumber(ARGV[5])
  local name = 'q:' .. q
  if cap then
    redis.call('HSET', K_FLOW, 'c:' .. q, cap)
    redis.call('HSET', K_CAPS, name, cap)
  else
    redis.call('HDEL', K_FLOW, 'c:' .. q)
    cap = redis.call('LLEN', K_parked(name)) + redis.call('SCARD', K_slots(name))
    redis.call('HSET', K_CAPS, name, cap)
  end
  local free = cap - redis.call('SCARD', K_slots(name))
  if free > 0 then unpark(name, free) end
  flush()
  return 1
elseif mode == 'limiter' then
  if ARGV[5] == '' then
    redis.call('HDEL', K_LIMITERS, ARGV[4])
  else
    redis.call('HSET', K_LIMITERS, ARGV[4], ARGV[5])
  end
  return 1
elseif mode == 'limiters' then
  local all = redis.call('HGETALL', K_LIMITERS)
  local names, defs = {}, {}
  for j = 1, #all, 2 do
    names[#names + 1] = all[j]
    defs[all[j]] = all[j + 1]
  end
  table.sort(names)
  local out = {}
  for _, n in ipairs(names) do
    out[#out + 1] = n
    out[#out + 1] = defs[n]
  end
  return out
elseif mode == 'caps' then
  local names = redis.call('SMEMBERS', K_PARKED_CAPS)
  table.sort(names)
  local out = {}
  for _, name in ipairs(names) do
    local running = redis.call('SCARD', K_slots(name))
    local parked = redis.call('LLEN', K_parked(name))
    if running + parked == 0 then
      redis.call('SREM', K_PARKED_CAPS, name)
      redis.call('HDEL', K_CAPS, name)
    else
      out[#out + 1] = name
      out[#out + 1] = tonumber(redis.call('HGET', K_CAPS, name)) or 0
      out[#out + 1] = running
      out[#out + 1] = parked
    end
  end
  return out
end
return redis.error_reply('flow.lua: unknown mode ' .. tostring(mode))
