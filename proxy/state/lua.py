"""Server-side Lua for `RedisStore`: each operation is one script, so it is atomic across every replica.

Times come from the Redis server (`TIME`), not from the replicas, so replicas with skewed clocks still share one
window. Times are milliseconds (floats). A sliding window is a sorted set (entry id -> time) beside a hash (entry
id -> cost, plus ``_t``: the running total), so a check costs O(entries aged out), not O(entries in the window).
"""

from __future__ import annotations

_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
"""

# Drop entries recorded at or before `cutoff` and return the total that remains.
_PRUNE = """
local function prune(log, costs, cutoff)
  local total = tonumber(redis.call('HGET', costs, '_t') or '0')
  while true do
    local old = redis.call('ZRANGEBYSCORE', log, '-inf', string.format('%.3f', cutoff), 'LIMIT', 0, 500)
    if #old == 0 then break end
    local values = redis.call('HMGET', costs, unpack(old))
    for i = 1, #values do total = total - (tonumber(values[i]) or 0) end
    redis.call('HDEL', costs, unpack(old))
    redis.call('ZREM', log, unpack(old))
  end
  if redis.call('ZCARD', log) == 0 then total = 0 end
  return total
end

-- Record an entry now; the window's keys live as long as their newest entry counts.
local function record(log, costs, entry, cost, window)
  redis.call('ZADD', log, string.format('%.3f', now), entry)
  redis.call('HSET', costs, entry, cost)
  redis.call('PEXPIRE', log, math.ceil(window))
  redis.call('PEXPIRE', costs, math.ceil(window))
end

local function store_total(log, costs, total)
  if redis.call('ZCARD', log) == 0 then
    redis.call('DEL', log, costs)
  else
    redis.call('HSET', costs, '_t', total)
  end
end
"""

# KEYS: log, costs. ARGV: limit, window_ms, cost, force (0/1), entry id.
# Returns {allowed (0/1), used, retry_after_ms (-1: never), reset_after_ms} (numbers as strings: Lua numbers
# would be truncated to integers on the way out).
HIT = (
    _NOW
    + _PRUNE
    + """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local total = prune(KEYS[1], KEYS[2], now - window)
local allowed = ARGV[4] == '1' or total + cost <= limit
if allowed and cost > 0 then
  local previous = tonumber(redis.call('HGET', KEYS[2], ARGV[5]) or '0')
  record(KEYS[1], KEYS[2], ARGV[5], cost, window)
  total = total + cost - previous
end
store_total(KEYS[1], KEYS[2], total)
local retry = 0
if not allowed then
  if cost > limit then
    retry = -1
  else
    local excess = total + cost - limit
    local freed = 0
    local start = 0
    local found = false
    while not found do
      local batch = redis.call('ZRANGE', KEYS[1], start, start + 199, 'WITHSCORES')
      if #batch == 0 then break end
      local ids = {}
      for i = 1, #batch, 2 do ids[#ids + 1] = batch[i] end
      local values = redis.call('HMGET', KEYS[2], unpack(ids))
      for j = 1, #ids do
        freed = freed + (tonumber(values[j]) or 0)
        if freed >= excess then
          retry = math.max(0, tonumber(batch[2 * j]) + window - now)
          found = true
          break
        end
      end
      start = start + 200
    end
  end
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local reset = 0
if #newest > 0 then reset = math.max(0, tonumber(newest[2]) + window - now) end
return {allowed and 1 or 0, tostring(total), tostring(retry), tostring(reset)}
"""
)

# KEYS: log, costs. ARGV: cost, window_ms, entry id, id for a new entry. Returns the window's total.
ADJUST = (
    _NOW
    + _PRUNE
    + """
local cost = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local total = prune(KEYS[1], KEYS[2], now - window)
local previous = redis.call('HGET', KEYS[2], ARGV[3])
if previous then
  total = total + cost - tonumber(previous)
  if cost == 0 then
    redis.call('ZREM', KEYS[1], ARGV[3])
    redis.call('HDEL', KEYS[2], ARGV[3])
  else
    redis.call('HSET', KEYS[2], ARGV[3], cost)
  end
elseif cost > 0 then
  record(KEYS[1], KEYS[2], ARGV[4], cost, window)
  total = total + cost
end
store_total(KEYS[1], KEYS[2], total)
return tostring(total)
"""
)

# KEYS: slots (token -> lease end). ARGV: limit, lease_ms, token. Returns {acquired (0/1), in_use}.
ACQUIRE = (
    _NOW
    + """
local limit = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.3f', now))
local held = redis.call('ZCARD', KEYS[1])
if held >= limit then return {0, held} end
redis.call('ZADD', KEYS[1], string.format('%.3f', now + lease), ARGV[3])
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], math.ceil(lease)) end
return {1, held + 1}
"""
)

# KEYS: counter. ARGV: amount, ttl_ms. The TTL is set when the counter is created, not refreshed.
INCR = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]))) end
return value
"""

# KEYS: items (member "id|item" -> time). ARGV: member, window_ms, max_items.
# Returns the members within the window with their times, oldest first.
PUSH = (
    _NOW
    + """
local window = tonumber(ARGV[2])
local keep = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], string.format('%.3f', now), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.3f', now - window))
local count = redis.call('ZCARD', KEYS[1])
if count > keep then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, count - keep - 1) end
redis.call('PEXPIRE', KEYS[1], math.ceil(window))
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%.3f', now - window), '+inf', 'WITHSCORES')
"""
)

# KEYS: items. ARGV: window_ms.
ITEMS = (
    _NOW
    + """
local since = string.format('%.3f', now - tonumber(ARGV[1]))
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. since, '+inf', 'WITHSCORES')
"""
)
