-- jobs.lua: looks jobs up by id.
--
-- KEYS: [1] {ns}:queues
-- ARGV: [1] prefix  [2] default result TTL ms  [3..] job ids
-- Returns: per id an array: the job hash's fields and values (HGETALL),
--       plus "due" and the due time while scheduled; empty for an unknown
--       (or expired) job; { "!err", message } when the key is not a hash.

local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local h = redis.pcall('HGETALL', K_job(id))
  if h.err then
    out[#out + 1] = { '!err', h.err }
  else
    local st, q = nil, nil
    for j = 1, #h, 2 do
      if h[j] == 's' then st = h[j + 1] elseif h[j] == 'q' then q = h[j + 1] end
    end
    if st == 's' and q then
      local due = redis.call('ZSCORE', K_sched(q), id)
      if due then
        h[#h + 1] = 'due'
        h[#h + 1] = due
      end
    end
    out[#out + 1] = h
  end
end
return out
