-- wrk script: every request carries a fresh, pre-minted partner token (single-use jti).
-- Environment: BENCH_TOKENS (file prefix; thread n reads <prefix>.<n>), BENCH_PATH,
-- BENCH_METHOD, BENCH_BODY.
local counter = 0
local tokens = {}
local next_token = 0
local path = os.getenv("BENCH_PATH")
local method = os.getenv("BENCH_METHOD") or "POST"
local body = os.getenv("BENCH_BODY") or ""
local prefix = os.getenv("BENCH_TOKENS") or ""

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  if prefix ~= "" then
    for line in io.lines(prefix .. "." .. id) do tokens[#tokens + 1] = line end
  end
end

function request()
  next_token = next_token + 1
  local headers = {["Content-Type"] = "application/json"}
  if prefix ~= "" then
    headers["Authorization"] = "Bearer " .. (tokens[next_token] or "exhausted")
  end
  return wrk.format(method, path, headers, body)
end
