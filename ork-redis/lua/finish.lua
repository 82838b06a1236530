-- finish.lua: records the end of attempts, a batch at once.
--
-- KEYS: [1] {ns}:queues  [2] {ns}:uniq
-- ARGV: [1] prefix  [2] default result TTL ms
--       [3..] five per entry: job id, fencing token, kind, a, b where kind is
--       ok (a: result), retry (a: delay ms, b: error), dead (a: error),
--       cancel, or release (handed back; the attempt does not count)
-- Returns: per entry 1 (recorded) or 0 (stale fence or not running: nothing
--       changed).
--
-- A terminal end releases the unique key and settles dependants exactly
-- once (see terminate() in lib.lua).

local out = {}
for i = 3, #ARGV, 5 do
  local id, fence, kind, a, b = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local k = K_job(id)
  -- TERM_FIELDS, then fence and attempts
  local f = redis.call('HMGET', k, 's', 'q', 'p', 'u', 'af', 'x', 'h', 'f', 'a')
  if f[1] ~= 'r' or tonumber(f[8]) ~= fence then
    out[#out + 1] = 0
  else
    out[#out + 1] = 1
    if kind == 'ok' then
      terminate(id, 'o', nil, f, { 'R', a, 'pg', 100 })
    elseif kind == 'retry' then
      defer('ZREM', K_run(f[2]), id)
      make_scheduled(id, f[2], now() + (tonumber(a) or 0), 'e', b)
    elseif kind == 'dead' then
      terminate(id, 'd', a, f)
    elseif kind == 'cancel' then
      terminate(id, 'c', nil, f)
    else
      defer('ZREM', K_run(f[2]), id)
      make_ready(id, f[2], f[3], 'a', math.max((tonumber(f[9]) or 1) - 1, 0))
    end
  end
end
flush()
return out
