"""A Stripe App backend in Python (standard library only) behind
`appbackend serve --upstream http://127.0.0.1:8000`.

appbackend verifies the UI extension's signatures, answers CORS, keeps the event inbox,
runs the schedules and holds the Stripe keys; this server only trusts what appbackend
proves with Standard Webhooks signatures (five lines of hmac below).

  APPBACKEND_UPSTREAM_SECRET  the whsec_... secret appbackend signs with (required)
  PORT                        where to listen (default 8000)
  APPBACKEND_UPSTREAM_API     appbackend's upstream API (default http://127.0.0.1:3001)
  RECEIVED_LOG                optional file: one JSON line per event, schedule run, job
  FAIL_EVENTS_FILE            optional file: while it exists, events are answered 500
"""

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["APPBACKEND_UPSTREAM_SECRET"]
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))
API = os.environ.get("APPBACKEND_UPSTREAM_API", "http://127.0.0.1:3001")
TOLERANCE = 5 * 60


def verify(headers, payload: bytes) -> bool:
    """Standard Webhooks: v1,base64(HMAC-SHA256(key, id.timestamp.payload))."""
    msg_id, ts, sigs = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature")
    if not (msg_id and ts and sigs) or abs(time.time() - int(ts)) > TOLERANCE:
        return False
    mac = hmac.new(KEY, f"{msg_id}.{ts}.".encode() + payload, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(expected, s) for s in sigs.split())


def verify_proof(method, path_query, headers, body: bytes):
    """The upstream proof of a proxied /api request; the identity it proves, or None."""
    fields = [headers.get(h, "") for h in ("Appbackend-User-Id", "Appbackend-Account-Id", "Appbackend-Roles",
                                            "Appbackend-Payload-Signed", "Appbackend-Livemode")]
    signed = "\n".join([method, path_query, *fields, hashlib.sha256(body).hexdigest()])
    if not verify(headers, signed.encode()):
        return None
    live = headers.get("Appbackend-Livemode")
    return {
        "userId": fields[0],
        "accountId": fields[1],
        "roles": fields[2].split(",") if fields[2] else [],
        "payloadSigned": fields[3] == "true",
        "livemode": None if live is None else live == "true",
    }


seen, seen_lock = set(), threading.Lock()  # webhook-ids handled: delivery is at least once


def record(entry):
    path = os.environ.get("RECEIVED_LOG")
    if path:
        with seen_lock, open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def call_api(method, path, account=None, livemode=None, body=None, form=None):
    headers = {"Authorization": "Bearer " + SECRET}
    if account:
        headers["Appbackend-Account-Id"] = account
    if livemode is not None:
        headers["Appbackend-Livemode"] = "true" if livemode else "false"
    data = None
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = urllib.parse.urlencode(form).encode()
    elif body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


# The seed's three endpoints, and a job the UI polls.
def do_secret_stuff(ident):
    return 200, {"success": True, "identity": ident}


def do_more_secret_stuff(ident):
    if not ident["payloadSigned"]:
        return 403, {"error": "sign the payload"}
    return 200, {"success": True, "identity": ident}


def data(ident):
    live = ident["livemode"] if ident["livemode"] is not None else False
    status, out = call_api("POST", "/v1/stripe/v1/customers", account=ident["accountId"], livemode=live,
                           form={"description": "created by gateway-python"})
    return (200, {"data": [], "customer": out.get("id")}) if status == 200 else (502, {"error": out})


def export(ident):
    live = ident["livemode"] if ident["livemode"] is not None else False
    status, out = call_api("POST", "/v1/jobs", body={"call": "POST /jobs/export", "account_id": ident["accountId"],
                                                     "livemode": live, "body": {"format": "csv"}})
    return (200 if status == 201 else 502), {"job_id": out.get("id")}


ROUTES = {
    ("POST", "/api/do_secret_stuff"): do_secret_stuff,
    ("POST", "/api/do_more_secret_stuff"): do_more_secret_stuff,
    ("POST", "/api/data"): data,
    ("POST", "/api/export"): export,
}


# Calls from appbackend: events, schedule runs and jobs.
def on_event(event, headers):
    fail = os.environ.get("FAIL_EVENTS_FILE")
    if fail and os.path.exists(fail):
        return 500, {"error": "failing on purpose"}
    record({"kind": "event", "id": headers["webhook-id"], "type": event["type"],
            "account_id": headers.get("Appbackend-Account-Id"), "livemode": headers.get("Appbackend-Livemode"),
            "installation": headers.get("Appbackend-Installation")})
    return 200, {"received": True}


def on_refresh(run, headers):
    record({"kind": "schedule", "id": headers["webhook-id"], "schedule": run["schedule"],
            "account_id": run["account_id"], "livemode": run["livemode"]})
    return 200, {}


def on_export(job, headers):
    record({"kind": "job", "id": headers["webhook-id"], "account_id": job["account_id"], "attempt": job["attempt"],
            "body": job["body"]})
    return 200, {"rows": 42, "format": job["body"]["format"]}


CALLS = {"/appbackend/events": on_event, "/jobs/refresh": on_refresh, "/jobs/export": on_export}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, status, value):
        out = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        if self.command == "POST" and path in CALLS:
            if not verify(self.headers, body):
                return self.send(401, {"error": "bad webhook signature"})
            msg_id = self.headers["webhook-id"]
            with seen_lock:
                if msg_id in seen:
                    return self.send(200, {"duplicate": True})
            status, out = CALLS[path](json.loads(body), self.headers)
            if status < 300:
                with seen_lock:
                    seen.add(msg_id)
            return self.send(status, out)
        route = ROUTES.get((self.command, path))
        if route is None:
            return self.send(404, {"error": "not found"})
        ident = verify_proof(self.command, self.path, self.headers, body)
        if ident is None:
            return self.send(401, {"error": "bad upstream proof"})
        self.send(*route(ident))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"gateway-python listening on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()
