-- whoami.lua: wrk script of the signed POST /api/whoami load test (bench/run.sh).
--
--   wrk -t2 -c64 -d10s --latency -s bench/whoami.lua http://127.0.0.1:PORT/api/whoami -- SIGNATURE BODY
--
-- SIGNATURE and BODY are the two lines `appbackend sign` prints: the Stripe-Signature
-- value and the exact body it signed. Every request is the same POST to the URL's path,
-- with Content-Type: application/json and Origin: null (what a sandboxed UI extension's
-- fetch sends). The request is built once per thread, after init().
--
-- done() prints one machine-readable line (times in microseconds):
--   whoami.lua: result requests=N duration_us=N status_errors=N connect=N read=N write=N
--               timeout=N p50_us=N p99_us=N max_us=N
-- status_errors are the answers with a status above 399 (wrk's "Non-2xx or 3xx"); the
-- percentiles are those of wrk's --latency table (after wrk's correction for coordinated
-- omission).

function init(args)
   local signature, body = args[1], args[2]
   if not signature or signature == "" or not body or body == "" then
      error("usage: wrk … -s whoami.lua URL -- SIGNATURE BODY")
   end
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Origin"] = "null"
   wrk.headers["Stripe-Signature"] = signature
   wrk.body = body
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("whoami.lua: result requests=%d duration_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max))
end
