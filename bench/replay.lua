-- wrk script: replay pre-signed requests, each once (one-time codes and nonces cannot be reused).
--   wrk -s bench/replay.lua ... <url> -- <requests file> <threads> <lua pattern of a 2xx body's id> [<rate/s>]
-- The file holds records "<byte length>\n<raw HTTP request>"; thread k sends records k, k+T, k+2T, ...
-- and stops when it has none left. WRK_OUT names the file done() writes: one JSON line of figures,
-- then "A <captures joined by |>" per answered request and "R <code> <count>" per refusal code.
-- With a rate, requests are sent on a schedule (Poisson arrivals, rate/threads per thread) by whichever
-- connection is free, instead of as soon as an answer comes: holders tap when they arrive, not when the
-- server is ready. A slow server leaves its connections busy and falls behind the schedule.
local threads, started = {}, 0
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } cc_timespec;
int clock_gettime(int clock, cc_timespec *tp);
]]
local clock = ffi.new("cc_timespec")

local function now_ms()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

function setup(thread)
  thread:set("id", started)
  started = started + 1
  table.insert(threads, thread)
end

function init(args)
  local path, count, pattern = args[1], tonumber(args[2]), args[3]
  requests, cursor, acked, refused, id_pattern = {}, 0, {}, {}, pattern
  local rate = tonumber(args[4] or "0")
  gap = rate > 0 and 1000 * count / rate or 0  -- mean ms between this thread's requests
  math.randomseed(id * 7919 + 1)
  local file, i = assert(io.open(path, "rb")), 0
  while true do
    local length = file:read("*l")
    if not length then break end
    local raw = file:read(tonumber(length))
    if i % count == id then requests[#requests + 1] = raw end
    i = i + 1
  end
  file:close()
end

function request()
  cursor = cursor + 1
  local raw = requests[cursor]
  if raw == nil then
    wrk.thread:stop()
    return requests[#requests]  -- never answered: the thread is stopping
  end
  return raw
end

function delay()
  if gap <= 0 then return 0 end
  local now = now_ms()
  if next_at == nil or next_at < now - 1000 then next_at = now end  -- never bank more than 1 s of slots
  next_at = next_at - math.log(1 - math.random()) * gap
  return math.max(0, next_at - now)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    acked[#acked + 1] = table.concat({body:match(id_pattern)}, "|")
  else
    local code = body:match('"code":%s*"([^"]+)"') or tostring(status)
    refused[code] = (refused[code] or 0) + 1
  end
end

function done(summary, latency, requests_)
  local out = assert(io.open(os.getenv("WRK_OUT"), "w"))
  local e = summary.errors
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
  for _, thread in ipairs(threads) do
    for _, value in ipairs(thread:get("acked")) do out:write("A " .. value .. "\n") end
    for code, n in pairs(thread:get("refused")) do out:write("R " .. code .. " " .. n .. "\n") end
  end
  out:close()
end
