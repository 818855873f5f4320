-- wrk script of bench/bench_device_ingest_gunicorn.py: every request POSTs the same body (a pass event with
-- its capture, JSON or multipart, read from BENCH_BODY_FILE) to BENCH_PATH; counts answers that are not
-- 200 with no refusal ("refused": 0).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  local file = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
  body = file:read("*a")
  file:close()
  headers = {["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE"), ["Authorization"] = os.getenv("BENCH_AUTH")}
  path = os.getenv("BENCH_PATH")
end

function request()
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  if status ~= 200 or not body:find('"refused": ?0') then
    bad = bad + 1
    if bad == 1 then io.stderr:write("first bad answer: " .. status .. " " .. body:sub(1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do total_bad = total_bad + thread:get("bad") end
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %d\n", summary.requests, total_bad,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
