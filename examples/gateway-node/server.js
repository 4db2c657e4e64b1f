// A Stripe App backend in Node behind `appbackend serve --upstream http://127.0.0.1:8000`.
// appbackend verifies the UI extension's signatures, answers CORS, keeps the event inbox,
// runs the schedules and holds the Stripe keys; this server only trusts what appbackend
// proves, with the `standardwebhooks` package.
//
//   APPBACKEND_UPSTREAM_SECRET  the whsec_… secret appbackend signs with (required)
//   PORT                        where to listen (default 8000)
//   APPBACKEND_UPSTREAM_API     appbackend's upstream API (default http://127.0.0.1:3001)
//   RECEIVED_LOG                optional file: one JSON line per event, schedule run, job
//   FAIL_EVENTS_FILE            optional file: while it exists, events are answered 500
import http from "node:http";
import crypto from "node:crypto";
import fs from "node:fs";
import { Webhook } from "standardwebhooks";

const secret = process.env.APPBACKEND_UPSTREAM_SECRET;
if (!secret) throw new Error("APPBACKEND_UPSTREAM_SECRET is required");
const port = Number(process.env.PORT || 8000);
const api = process.env.APPBACKEND_UPSTREAM_API || "http://127.0.0.1:3001";
const wh = new Webhook(secret);

// verifyProof checks the upstream proof of a proxied /api request. The signed string is
// not JSON, hence jsonParse: false.
function verifyProof(req, body) {
  const h = req.headers;
  const signed = [
    req.method,
    req.url, // the path and query as appbackend received them (no base path here)
    h["appbackend-user-id"] ?? "",
    h["appbackend-account-id"] ?? "",
    h["appbackend-roles"] ?? "",
    h["appbackend-payload-signed"] ?? "",
    h["appbackend-livemode"] ?? "",
    crypto.createHash("sha256").update(body).digest("hex"),
  ].join("\n");
  wh.verify(signed, h, { jsonParse: false });
  return {
    userId: h["appbackend-user-id"],
    accountId: h["appbackend-account-id"],
    roles: h["appbackend-roles"] ? h["appbackend-roles"].split(",") : [],
    payloadSigned: h["appbackend-payload-signed"] === "true",
    livemode: h["appbackend-livemode"] === undefined ? null : h["appbackend-livemode"] === "true",
  };
}

const seen = new Set(); // webhook-ids already handled: delivery is at least once
function record(entry) {
  if (process.env.RECEIVED_LOG) fs.appendFileSync(process.env.RECEIVED_LOG, JSON.stringify(entry) + "\n");
}

function send(res, status, value) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(value));
}

async function callApi(method, path, { account, livemode, body, form } = {}) {
  const headers = { Authorization: `Bearer ${secret}` };
  if (account) headers["Appbackend-Account-Id"] = account;
  if (livemode !== undefined && livemode !== null) headers["Appbackend-Livemode"] = String(livemode);
  let payload;
  if (form) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    payload = new URLSearchParams(form).toString();
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const r = await fetch(api + path, { method, headers, body: payload });
  return { status: r.status, body: await r.json() };
}

const routes = {
  // The seed's three endpoints.
  "POST /api/do_secret_stuff": async (id) => [200, { success: true, identity: id }],
  "POST /api/do_more_secret_stuff": async (id) =>
    id.payloadSigned ? [200, { success: true, identity: id }] : [403, { error: "sign the payload" }],
  "POST /api/data": async (id) => {
    const r = await callApi("POST", "/v1/stripe/v1/customers", {
      account: id.accountId, livemode: id.livemode ?? false, form: { description: "created by gateway-node" },
    });
    return r.status === 200 ? [200, { data: [], customer: r.body.id }] : [502, { error: r.body }];
  },
  // A durable job: appbackend calls POST /jobs/export, the UI polls GET /api/jobs/{id}.
  "POST /api/export": async (id) => {
    const r = await callApi("POST", "/v1/jobs", {
      body: { call: "POST /jobs/export", account_id: id.accountId, livemode: id.livemode ?? false, body: { format: "csv" } },
    });
    return [r.status === 201 ? 200 : 502, { job_id: r.body.id }];
  },
};

// Calls from appbackend: events, schedule runs and jobs, Standard Webhooks-signed JSON.
const calls = {
  "/appbackend/events": (event, req) => {
    if (process.env.FAIL_EVENTS_FILE && fs.existsSync(process.env.FAIL_EVENTS_FILE)) return [500, { error: "failing on purpose" }];
    record({ kind: "event", id: req.headers["webhook-id"], type: event.type, account_id: req.headers["appbackend-account-id"] ?? null,
      livemode: req.headers["appbackend-livemode"], installation: req.headers["appbackend-installation"] ?? null });
    return [200, { received: true }];
  },
  "/jobs/refresh": (run, req) => {
    record({ kind: "schedule", id: req.headers["webhook-id"], schedule: run.schedule, account_id: run.account_id, livemode: run.livemode });
    return [200, {}];
  },
  "/jobs/export": (job, req) => {
    record({ kind: "job", id: req.headers["webhook-id"], account_id: job.account_id, attempt: job.attempt, body: job.body });
    return [200, { rows: 42, format: job.body.format }];
  },
};

http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    const body = Buffer.concat(chunks);
    const path = req.url.split("?")[0];
    try {
      if (req.method === "POST" && calls[path]) {
        let value;
        try {
          value = wh.verify(body, req.headers); // JSON-parsed once verified
        } catch {
          return send(res, 401, { error: "bad webhook signature" });
        }
        const id = req.headers["webhook-id"];
        if (seen.has(id)) return send(res, 200, { duplicate: true });
        const [status, out] = calls[path](value, req);
        if (status < 300) seen.add(id);
        return send(res, status, out);
      }
      const route = routes[`${req.method} ${path}`];
      if (!route) return send(res, 404, { error: "not found" });
      let id;
      try {
        id = verifyProof(req, body);
      } catch {
        return send(res, 401, { error: "bad upstream proof" });
      }
      const [status, out] = await route(id, req);
      send(res, status, out);
    } catch (err) {
      send(res, 500, { error: String(err) });
    }
  });
}).listen(port, "127.0.0.1", () => console.log(`gateway-node listening on http://127.0.0.1:${port}`));
