-- Replays pre-signed wallet API requests (bench/http_load.py writes the file).
--
--   wrk -s bench/wrk/replay.lua URL -- <requests file> <threads> <provider code>
--
-- One request per line: "<operation>\t<X-Timestamp>\t<X-Signature>\t<JSON body>". Thread k of n
-- takes lines k, k+n, k+2n, ... in order, so no two threads send the same request. The summary
-- (throughput, latency percentiles, outcome counts) is printed by done() as one JSON line.

local threads = {}
local created = 0

function setup(thread)
   thread:set("tid", created)
   created = created + 1
   table.insert(threads, thread)
end

function init(args)
   local path, nthreads, provider = args[1], tonumber(args[2]), args[3]
   requests = {}
   local i = 0
   for line in io.lines(path) do
      if i % nthreads == tid then
         local op, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
         requests[#requests + 1] = wrk.format("POST", "/wallet/v1/" .. op, {
            ["Host"] = wrk.host .. ":" .. wrk.port,
            ["Content-Type"] = "application/json",
            ["X-Provider-Code"] = provider,
            ["X-Timestamp"] = ts,
            ["X-Signature"] = sig,
         }, body)
      end
      i = i + 1
   end
   sent, wrapped, txn_ok, other_ok, dup, bad = 0, 0, 0, 0, 0, 0
   codes = {}
end

function request()
   sent = sent + 1
   local index = sent % #requests
   if index == 0 then
      index = #requests
   end
   if sent > #requests then
      wrapped = wrapped + 1 -- out of fresh requests: this one is a replay
   end
   return requests[index]
end

function response(status, headers, body)
   if status == 200 then
      if body:find('"duplicate":true', 1, true) then
         dup = dup + 1
      elseif body:find('"wallet_transaction_id"', 1, true) then
         txn_ok = txn_ok + 1
      else
         other_ok = other_ok + 1
      end
   else
      bad = bad + 1
      local code = body:match('"code":"([A-Z_]+)"') or ("HTTP_" .. status)
      codes[code] = (codes[code] or 0) + 1
   end
end

function done(summary, latency, requests)
   local totals = { sent = 0, wrapped = 0, txn_ok = 0, other_ok = 0, dup = 0, bad = 0 }
   local all_codes = {}
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + (thread:get(name) or 0)
      end
      for code, count in pairs(thread:get("codes") or {}) do
         all_codes[code] = (all_codes[code] or 0) + count
      end
   end
   local code_parts = {}
   for code, count in pairs(all_codes) do
      code_parts[#code_parts + 1] = string.format('"%s":%d', code, count)
   end
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"rps":%.2f,"latency_ms":{"mean":%.3f,"p50":%.3f,'
         .. '"p95":%.3f,"p99":%.3f,"max":%.3f},"sent":%d,"wrapped":%d,"txn_ok":%d,'
         .. '"other_ok":%d,"duplicates":%d,"refused":%d,"codes":{%s},"socket_errors":'
         .. '{"connect":%d,"read":%d,"write":%d,"timeout":%d},"non_2xx":%d}\n',
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      totals.sent, totals.wrapped, totals.txn_ok, totals.other_ok, totals.dup, totals.bad,
      table.concat(code_parts, ","), e.connect, e.read, e.write, e.timeout, e.status))
end
