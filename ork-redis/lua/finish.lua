-- finish.lua: records the end of attempts, a batch at once.
--
-- KEYS: [1] {ns}:queues  [2] {ns}:uniq
-- ARGV: [1] prefix  [2] default result TTL ms
--       [3..] five per entry: job id, fencing token, kind, a, b where kind is
--       ok (a: result), retry (a: delay ms, b: error), dead (a: error),
--       cancel, release (handed back; the attempt does not count), or
--       park (a: until ms, b: why; the attempt does not count; a job
--       woken while it ran, field wk, is made ready at once instead)
-- Returns: per entry 1 (recorded) or 0 (stale fence or not running: nothing
--       changed). A job reaped after its lease ran out but not claimed
--       again still takes its attempt's finish.
--
-- A terminal end releases the unique key and settles dependants exactly
-- once (see terminate() in lib.lua). A success drops the job's payload and,
-- in the variant run on a full Redis (FULL), keeps the result only if it
-- fits in what that freed (succeeded_fields() in lib.lua).

local out = {}
for i = 3, #ARGV, 5 do
  local id, fence, kind, a, b = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local k = K_job(id)
  local f = redis.call('HMGET', k, 's', 'r', 'q', 'x', 'u', 'h', 'd', 'C', 'ik', 'sl')
  local q = f[3]
  if f[1] == 'q' and q and fence_of(f[2]) == fence then
    -- Reaped but not claimed again: the attempt is still current.
    local restored = unreap(id, q, fence, f[2])
    if restored then f[1], f[2] = 'r', restored end
  end
  if f[1] ~= 'r' or fence_of(f[2]) ~= fence or not q then
    out[#out + 1] = 0
  else
    out[#out + 1] = 1
    -- Whatever the end, the attempt's running-cap slots go back.
    if f[10] then release_slots(id, f[10]) end
    if kind == 'ok' and not f[5] and not f[6] and not f[8] and not f[9] then
      -- The common case (no unique or idempotency key, no dependants, no
      -- run-time children): terminate()'s steps for it, without its
      -- bookkeeping.
      local ttl, expires = expiry_of(f[4])
      local res, compact = succeeded_fields(f[7], a, FULL)
      redis.call('HSET', k, 's', 'o', 'ft', now_s(), unpack(res))
      if compact then compact_job(k) end
      redis.call('PEXPIRE', k, ttl)
      defer('ZREM', memo(K_run, q), id)
      defer('ZADD', memo(K_ok, q), expires, id)
    elseif kind == 'ok' or kind == 'cancel' then
      -- TERM_FIELDS; priority and allow-failure matter to neither. The
      -- children set and the idempotency key expire with the record.
      local pre = { 'r', q, nil, f[5], nil, f[4], f[6], f[8], f[9] }
      if kind == 'ok' then
        local res, compact = succeeded_fields(f[7], a, FULL)
        terminate(id, 'o', nil, pre, res)
        if compact then compact_job(k) end
      else
        terminate(id, 'c', nil, pre)
      end
    elseif kind == 'retry' then
      defer('ZREM', memo(K_run, q), id)
      redis.call('HDEL', k, 'pk')
      make_scheduled(id, q, now() + (tonumber(a) or 0), 'e', b)
    elseif kind == 'dead' then
      terminate(id, 'd', a)
    elseif kind == 'park' then
      local fe, attempts, lost, started = run_of(f[2])
      local run = run_field(fe, math.max(attempts - 1, 0), lost, started)
      defer('ZREM', memo(K_run, q), id)
      if redis.call('HDEL', k, 'wk') == 1 then
        make_ready(id, q, redis.call('HGET', k, 'p'), 'r', run, 'pk', b)
      else
        make_scheduled(id, q, tonumber(a) or now(), 'r', run, 'pk', b)
      end
    else
      local fe, attempts, lost, started = run_of(f[2])
      defer('ZREM', memo(K_run, q), id)
      make_ready(id, q, redis.call('HGET', k, 'p'),
        'r', run_field(fe, math.max(attempts - 1, 0), lost, started))
    end
  end
end
flush()
return out
