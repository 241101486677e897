-- Replays pre-built wallet requests of any protocol (bench/adapters_bet_path.py writes them).
--
--   wrk -s bench/wrk/replay_any.lua URL -- <requests file> <threads> <success marker>
--
-- One request per line: "<path>\t<content type>\t<headers>\t<body>", the headers as
-- "name=value" pairs joined by the ASCII unit separator (0x1f). Thread k of n takes lines k,
-- k+n, ... A 200 answer whose body contains the success marker counts as accepted. The summary
-- is printed by done() as one JSON line.

local threads = {}
local created = 0

function setup(thread)
   thread:set("tid", created)
   created = created + 1
   table.insert(threads, thread)
end

function init(args)
   local path, nthreads = args[1], tonumber(args[2])
   marker = args[3]
   requests = {}
   local i = 0
   for line in io.lines(path) do
      if i % nthreads == tid then
         local target, ctype, packed, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
         local headers = { ["Host"] = wrk.host .. ":" .. wrk.port, ["Content-Type"] = ctype }
         for pair in string.gmatch(packed, "[^\31]+") do
            local name, value = pair:match("^([^=]+)=(.*)$")
            headers[name] = value
         end
         requests[#requests + 1] = wrk.format("POST", target, headers, body)
      end
      i = i + 1
   end
   sent, wrapped, accepted, refused = 0, 0, 0, 0
end

function request()
   sent = sent + 1
   local index = sent % #requests
   if index == 0 then
      index = #requests
   end
   if sent > #requests then
      wrapped = wrapped + 1
   end
   return requests[index]
end

function response(status, headers, body)
   if status == 200 and body:find(marker, 1, true) then
      accepted = accepted + 1
   else
      refused = refused + 1
   end
end

function done(summary, latency, requests)
   local totals = { sent = 0, wrapped = 0, accepted = 0, refused = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + (thread:get(name) or 0)
      end
   end
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"rps":%.2f,"latency_ms":{"p50":%.3f,"p95":%.3f,'
         .. '"p99":%.3f},"sent":%d,"wrapped":%d,"accepted":%d,"refused":%d,'
         .. '"socket_errors":%d}\n',
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(95) / 1000,
      latency:percentile(99) / 1000, totals.sent, totals.wrapped, totals.accepted,
      totals.refused, e.connect + e.read + e.write + e.timeout))
end
