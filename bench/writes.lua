-- wrk script for P9: small writes, one per request.
--   BENCH_MODE=create   POST /api/v1/vault, a new vault id every request
--   BENCH_MODE=replace  PUT /api/v1/vault/w<n> with If-Match: *, round robin over the
--                       BENCH_VAULTS vaults each user made beforehand
--   BENCH_MODE=atuin    POST /api/v0/record to atuin's server, one new record every request
-- BENCH_TOKENS: bearer (blindvault) or session (atuin) tokens, comma-separated, one per user;
-- requests take them in turn, so each user has about one write in flight.
-- BENCH_BYTES: the payload size.
local mode = os.getenv("BENCH_MODE")
local tokens = {}
for t in string.gmatch(os.getenv("BENCH_TOKENS"), "[^,]+") do
  tokens[#tokens + 1] = t
end
local size = tonumber(os.getenv("BENCH_BYTES") or "4096")
local vaults = tonumber(os.getenv("BENCH_VAULTS") or "8")
local run = os.getenv("BENCH_RUN") or tostring(os.time())

-- Base64-sized random-looking payload, made once: the server cannot tell it from ciphertext.
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(bytes)
  local out = {}
  for i = 1, math.floor((bytes + 2) / 3) * 4 do
    local n = math.random(1, 64)
    out[i] = alphabet:sub(n, n)
  end
  return table.concat(out)
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread", threads)
end

local function uuid()
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", math.random(0, 0xffff), math.random(0, 0xffff),
    math.random(0, 0xffff), math.random(0, 0xfff), 0x8000 + math.random(0, 0x3fff), math.random(0, 0xffff),
    math.random(0, 0xffff), math.random(0, 0xffff))
end

local payload, iv, salt, host
local counter = 0
function init(args)
  math.randomseed(os.time() + (thread or 0))
  payload = b64(size)
  iv = b64(12)
  salt = b64(16)
  host = uuid()
end

function request()
  counter = counter + 1
  local token = tokens[(counter * 2 + thread) % #tokens + 1]
  if mode == "create" then
    local body = string.format('{"vault_id":"c-%s-%d-%d","ciphertext":"%s","iv":"%s","salt":"%s"}',
      run, thread, counter, payload, iv, salt)
    return wrk.format("POST", "/api/v1/vault",
      { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
  elseif mode == "replace" then
    local body = string.format('{"ciphertext":"%s","iv":"%s","salt":"%s"}', payload, iv, salt)
    local n = counter % vaults
    return wrk.format("PUT", "/api/v1/vault/w" .. n,
      { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json", ["If-Match"] = "*" }, body)
  else
    local now = os.time() * 1000000000
    local body = string.format('[{"id":"%s","idx":%d,"host":{"id":"%s"},"timestamp":%d,"version":"v0",'
      .. '"tag":"bench","data":{"data":"%s","content_encryption_key":"%s"}}]',
      uuid(), counter, host, now, payload, salt)
    return wrk.format("POST", "/api/v0/record",
      { ["Authorization"] = "Token " .. token, ["Content-Type"] = "application/json" }, body)
  end
end
