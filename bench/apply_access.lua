-- wrk script of bench/bench_apply_access_gunicorn.py: every request a new person (unique ID number with a
-- valid GB 11643 check character, ywlsh and ownerId), spread over the bench's communities; counts answers
-- that are not {"code": 1}. The photo URL is a loopback address, which the photo fetch refuses at once (no DNS,
-- no retries): the photo fetch is benchmarked on its own (bench_apply_access.py).
local threads = {}
local next_id = 0
local communities = tonumber(os.getenv("BENCH_COMMUNITIES") or "32")
local path = os.getenv("BENCH_PATH") or "/apply-access"
local weights = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
local checks = "10X98765432"

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  bad = 0
  base = tid * 5000000 + tonumber(os.getenv("BENCH_OFFSET") or "0")
end

local function id_card(n)
  local year = 1940 + math.floor(n / (12 * 28 * 999)) % 60
  local month = 1 + math.floor(n / (28 * 999)) % 12
  local day = 1 + math.floor(n / 999) % 28
  local first17 = string.format("510104%04d%02d%02d%03d", year, month, day, 1 + n % 999)
  local total = 0
  for i = 1, 17 do total = total + tonumber(first17:sub(i, i)) * weights[i] end
  local k = total % 11 + 1
  return first17 .. checks:sub(k, k)
end

function request()
  counter = counter + 1
  local n = base + counter
  local body = string.format('{"address": "四川省成都市锦江区观音桥55号2栋1单元31楼06号", "name": "张三", ' ..
    '"idCard": "%s", "photo": "http://127.0.0.1:9/p.jpg", "source": "01", "type": "01", ' ..
    '"phone": "13812345678", "communityId": "BENCH-%d", "ownerId": "OWNER-%d", "ywlsh": "YW-%d", "xbdm": 1}',
    id_card(n), n % communities, n, n)
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status ~= 200 or not body:find('"code": ?1') then
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
