-- The floor's track.lua / batch.lua bodies (/work/shared/bench-floor), for the pipeline bench's
-- other shapes. Env: WRITE_KEY; PIPE_DEVICES = "known" (the pool of 500 made before the run, as the
-- floor's scripts) or "new" (a visitor id never seen before in every event); PIPE_BATCH (1 = single
-- event, else that many events per request); PIPE_RUN (message id prefix, unique per run);
-- PIPE_DELAY_MS (pause before each request of a connection: an offered rate, for the lag run).
local key = os.getenv("WRITE_KEY") or ""
local devices = os.getenv("PIPE_DEVICES") or "known"
local batch = tonumber(os.getenv("PIPE_BATCH") or "1")
local run = os.getenv("PIPE_RUN") or "p"
local pause = tonumber(os.getenv("PIPE_DELAY_MS") or "0")
local n = 0
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local function visitor(i)
  if devices == "new" then return "new-" .. run .. "-" .. tid .. "-" .. i end
  return "known-" .. (i % 500)
end
local function event_json(i, m)
  local v = visitor(i)
  return '{"event":"page_view","visitor_id":"' .. v .. '","session_id":"s-' .. v .. '","url":"https://shop.example/p/' .. (i % 50) .. '","referrer":"https://www.google.com/","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0","properties":{"title":"Pricing"},"message_id":"' .. run .. '-' .. tid .. '-' .. m .. '"}'
end
request = function()
  n = n + 1
  local body
  if batch == 1 then
    body = event_json(n, n)
  else
    local parts = {}
    for i = 1, batch do parts[i] = event_json(n * 100 + i, n .. "-" .. i) end
    body = '{"batch":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format("POST", "/api/track", {["Content-Type"] = "application/json", ["X-Clarm-Key"] = key}, body)
end
if pause > 0 then
  delay = function() return pause end
end
