-- acks.lua: wrk script of the webhook-acknowledgement benchmark (bench/acks.sh).
--
--   wrk -t2 -c64 -d8s --latency -s bench/acks.lua http://127.0.0.1:PORT/webhooks/stripe -- EVENTS THREADS
--
-- EVENTS is a file of pre-signed events from bench/cmd/eventgen, one per line:
-- "<Stripe-Signature>\t<body>". THREADS must equal wrk's -t. The file is cut into THREADS
-- contiguous byte ranges, and thread k (0-based) sends the lines that start in range k:
-- the threads' slices are disjoint, so every request carries an event no other request
-- carries. Each request is a POST to the URL's path with Content-Type: application/json
-- and the event's Stripe-Signature.
--
-- A thread reads only its own slice in init(): wrk starts each thread as soon as its
-- init() returns, before the next thread's init() and before its clock starts, so a slow
-- init() would give the first thread a head start. The requests are built as they are sent.
--
-- A thread that has sent all of its events stops (wrk.thread:stop()); the connections
-- that want to send before its loop ends get its last event again, so done() then prints
-- "acks.lua: WARNING: …" and acks.sh fails the run: generate more events rather than
-- measure re-sent ones.
--
-- done() prints one machine-readable line (times in microseconds):
--   acks.lua: result requests=N duration_us=N status_errors=N connect=N read=N write=N
--             timeout=N p50_us=N p99_us=N max_us=N sent=N resent=N
-- status_errors are the answers with a status above 399 (wrk's "Non-2xx or 3xx");
-- sent (distinct events) and resent add up the threads' counts. The percentiles are
-- those of wrk's --latency table (after wrk's correction for coordinated omission).

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

-- Globals, so that done() can read them with thread:get().
sent, resent = 0, 0

local data, pos, prefix, last

-- lineStart returns the offset of the first line that starts at or after offset at.
local function lineStart(f, at)
   if at == 0 then return 0 end
   f:seek("set", at - 1)
   local rest = f:read("*l")
   if rest == nil then return f:seek("end") end
   return at + #rest
end

function init(args)
   local path, nthreads = args[1], tonumber(args[2])
   if not path or not nthreads or nthreads < 1 then
      error("usage: wrk … -s acks.lua URL -- EVENTS THREADS")
   end
   local f = assert(io.open(path, "rb"))
   local size = f:seek("end")
   local from = lineStart(f, math.floor(size * tid / nthreads))
   local to = lineStart(f, math.floor(size * (tid + 1) / nthreads))
   f:seek("set", from)
   data = to > from and f:read(to - from) or ""
   f:close()
   if data == "" then error(path .. ": no events for thread " .. tid) end
   pos = 1
   prefix = "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
      "\r\nContent-Type: application/json\r\nStripe-Signature: "
end

function request()
   if pos > #data then
      -- Out of events: stop this thread (its loop ends after this turn) and count what
      -- goes out again meanwhile, for done() to report.
      if resent == 0 then wrk.thread:stop() end
      resent = resent + 1
      return last
   end
   local nl = data:find("\n", pos, true) or (#data + 1)
   local tab = data:find("\t", pos, true)
   if not tab or tab > nl then error("an event line without a tab") end
   local body = data:sub(tab + 1, nl - 1)
   last = prefix .. data:sub(pos, tab - 1) .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
   pos = nl + 1
   sent = sent + 1
   return last
end

function done(summary, latency, reqs)
   local totalSent, totalResent = 0, 0
   for _, t in ipairs(threads) do
      local s, r = t:get("sent"), t:get("resent")
      totalSent, totalResent = totalSent + s, totalResent + r
      if r > 0 then
         io.write(string.format("acks.lua: WARNING: thread %d ran out of events after %d and re-sent %d: generate more events\n",
            t:get("tid"), s, r))
      end
   end
   local e = summary.errors
   io.write(string.format("acks.lua: result requests=%d duration_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d max_us=%d sent=%d resent=%d\n",
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max, totalSent, totalResent))
end
