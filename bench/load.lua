-- wrk script: unique message ids per request, a pool of known visitor ids, counts answers by status.
-- Env: BENCH_PATH, BENCH_DEVICES (pool size), BENCH_BATCH (events per request, 1 = single), BENCH_RUN
-- (prefix of the message ids, unique per run).
-- The counts printed here are a cross-check only: wrk stops with requests in flight, whose answers
-- it never reads, so the authoritative count is the server's access log (bench/harness.py).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  tid = tid or 0
  accepted, other, short = 0, 0, 0
  run = os.getenv("BENCH_RUN") or "r"
  -- The run tag goes in the query string, so the server's access log says which run each answer
  -- belongs to (the stored events say it through their message ids).
  path = os.getenv("BENCH_PATH") .. "&run=" .. run
  devices = tonumber(os.getenv("BENCH_DEVICES") or "1000")
  batch = tonumber(os.getenv("BENCH_BATCH") or "1")
  math.randomseed(tid * 7919)
end

local function event_json(n)
  local d = math.random(devices)
  return string.format(
    '{"event":"page_view","visitor_id":"bench-device-%d","session_id":"bench-session-%d",' ..
    '"url":"https://shop.example/p/%d","message_id":"%s-%d-%d","properties":{"title":"Product %d"}}',
    d, d, n % 50, run, tid, n, n % 50)
end

function request()
  counter = counter + 1
  local body
  if batch == 1 then
    body = event_json(counter)
  else
    local parts = {}
    for i = 1, batch do parts[i] = event_json(counter * 1000 + i) end
    body = '{"batch":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 202 then
    local n = tonumber(string.match(body, '"accepted":%s*(%d+)')) or 0
    accepted = accepted + n
    if n ~= batch then short = short + 1 end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, o, s = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    o = o + t:get("other")
    s = s + t:get("short")
  end
  io.write(string.format("RESULT requests=%d accepted_events=%d non202=%d short=%d errors=%d rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f\n",
    summary.requests, a, o, s, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
end
