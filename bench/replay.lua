-- wrk script: replay pre-signed requests, each once (one-time codes and nonces cannot be reused).
--   wrk -s bench/replay.lua ... <url> -- <requests file> <threads> <lua pattern of a 2xx body's id> [<pause ms>]
-- The file holds records "<byte length>\n<raw HTTP request>"; thread k sends records k, k+T, k+2T, ...
-- and stops when it has none left. WRK_OUT names the file done() writes: one JSON line of figures,
-- then "A <captures joined by |>" per answered request and "R <code> <count>" per refusal code.
-- With a pause, each connection waits a random time (exponential, that mean) after an answer before its
-- next request: a gate whose next holder taps a moment later, so the offered rate is connections / pause.
local threads, started = {}, 0

function setup(thread)
  thread:set("id", started)
  started = started + 1
  table.insert(threads, thread)
end

function init(args)
  local path, count, pattern = args[1], tonumber(args[2]), args[3]
  requests, cursor, acked, refused, id_pattern = {}, 0, {}, {}, pattern
  pause = tonumber(args[4] or "0")
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
  if pause <= 0 then return 0 end
  return -math.log(1 - math.random()) * pause
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
