-- wrk script for bench/monitoring_bench.py: POSTs Sensu check results for random
-- (client, check) pairs of the benchmark's population (90 % OK, 7 % warning, 3 % critical),
-- each on a new connection as a Sensu API client sends it, and prints what was answered.
-- Environment: BENCH_PATH, BENCH_TOKEN (optional), BENCH_CLIENTS.
local checks = { "cpu", "disk", "memory", "http", "ntp" }
local clients = tonumber(os.getenv("BENCH_CLIENTS") or "10000")
local path = os.getenv("BENCH_PATH") or "/results"
local headers = { ["Content-Type"] = "application/json", ["Connection"] = "close" }
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  headers["Authorization"] = "Bearer " .. token
end

local thread_number = 0
function setup(thread)
  thread_number = thread_number + 1
  thread:set("seed", thread_number)
end

function init(args)
  math.randomseed(os.time() * 1000 + seed)
end

function request()
  local roll = math.random()
  local status = roll < 0.90 and 0 or (roll < 0.97 and 1 or 2)
  local body = string.format(
    '{"name":"%s","source":"client-%05d","status":%d,"output":"status %d at %d"}',
    checks[math.random(#checks)], math.random(0, clients - 1), status, status, os.time()
  )
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"non_2xx_3xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"duration_us":%d}\n',
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout, summary.duration
  ))
end
