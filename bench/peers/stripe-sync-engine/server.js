// server.js: the peer of the webhook-acknowledgement benchmark (bench/acks.sh):
// @supabase/stripe-sync-engine behind a minimal node:http server, one process.
//
// At start it runs the package's own migrations (runMigrations: the "stripe" schema,
// one table per Stripe object) against SYNC_PEER_DATABASE_URL and checks that they left
// stripe.customers behind (runMigrations logs a failure to its logger and returns, so
// without the check a failed migration would only show as 500s). Then
// POST /webhooks answers:
//   200 {"received":true}  once StripeSync#processWebhook(rawBody, Stripe-Signature) has
//                          verified the event and written its object to PostgreSQL;
//   400                    on a missing or bad signature (stripe-node's
//                          StripeSignatureVerificationError);
//   413                    for a body over 1 MiB;
//   500                    for anything else (an unhandled event type, a database error).
// GET /healthz answers 200 {"ok":true,"stripe_api_requests":N} once the migrations are
// done; N counts the requests the package's Stripe client started (stripe-node's
// "request" event), which bench/acks.sh checks is 0 after a run.
//
// processWebhook takes the event's object from the payload as it is, without asking the
// Stripe API, unless revalidateObjectsViaStripeApi names its type; it is left empty here,
// and STRIPE_SECRET_KEY is a dummy. The pool is the package's default (10 connections).
//
// Configuration (environment):
//   SYNC_PEER_ADDR           listen address, 127.0.0.1:PORT (loopback only; PORT 0 binds a
//                            free one, which the listening line names), required
//   SYNC_PEER_DATABASE_URL   postgres:// URL of the database to migrate and write, required
//   STRIPE_WEBHOOK_SECRET    the endpoint secret (whsec_…) that signs the events, required
//   STRIPE_SECRET_KEY        [sk_test_dummy_never_used]
// It logs nothing per request.
'use strict';

const http = require('node:http');
const { StripeSync, runMigrations } = require('@supabase/stripe-sync-engine');

const MAX_BODY = 1 << 20;

function fail(message) {
  process.stderr.write(`stripe-sync-engine peer: ${message}\n`);
  process.exit(2);
}

const addr = process.env.SYNC_PEER_ADDR || '';
const addrMatch = /^127\.0\.0\.1:(\d{1,5})$/.exec(addr);
if (!addrMatch || Number(addrMatch[1]) > 65535) {
  fail(`SYNC_PEER_ADDR ${JSON.stringify(addr)} must be 127.0.0.1:PORT (loopback only)`);
}
const databaseUrl = process.env.SYNC_PEER_DATABASE_URL || '';
if (!/^postgres(ql)?:\/\//.test(databaseUrl)) fail('SYNC_PEER_DATABASE_URL must be a postgres:// URL');
const webhookSecret = process.env.STRIPE_WEBHOOK_SECRET || '';
if (webhookSecret === '') fail('STRIPE_WEBHOOK_SECRET is empty');

// A logger for the migrations only, so that their failure is seen.
const migrationLogger = {
  info() {},
  warn(...args) { process.stderr.write(`stripe-sync-engine peer: migrations: ${args.map(String).join(' ')}\n`); },
  error(...args) { process.stderr.write(`stripe-sync-engine peer: migrations: ${args.map(String).join(' ')}\n`); },
};

function send(res, status, body) {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
  res.end(json);
}

async function main() {
  await runMigrations({ databaseUrl, schema: 'stripe', logger: migrationLogger });

  const sync = new StripeSync({
    poolConfig: { connectionString: databaseUrl },
    schema: 'stripe',
    stripeSecretKey: process.env.STRIPE_SECRET_KEY || 'sk_test_dummy_never_used',
    stripeWebhookSecret: webhookSecret,
  });
  const { rows } = await sync.postgresClient.query(
    "SELECT to_regclass('stripe.customers') IS NOT NULL AS ok"
  );
  if (!rows[0].ok) fail('the migrations did not create stripe.customers');
  let stripeApiRequests = 0;
  sync.stripe.on('request', () => {
    stripeApiRequests++;
  });

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') {
      send(res, 200, { ok: true, stripe_api_requests: stripeApiRequests });
      return;
    }
    if (req.method !== 'POST' || req.url !== '/webhooks') {
      send(res, 404, { error: 'not found' });
      return;
    }
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) {
        send(res, 413, { error: 'body too large' });
        return;
      }
      const sig = req.headers['stripe-signature'];
      if (typeof sig !== 'string' || sig === '') {
        send(res, 400, { error: 'missing Stripe-Signature' });
        return;
      }
      sync.processWebhook(Buffer.concat(chunks, size), sig).then(
        () => send(res, 200, { received: true }),
        (error) => {
          if (error && error.type === 'StripeSignatureVerificationError') {
            send(res, 400, { error: 'signature verification failed' });
            return;
          }
          process.stderr.write(`stripe-sync-engine peer: ${error && error.message}\n`);
          send(res, 500, { error: 'internal error' });
        }
      );
    });
    req.on('error', () => res.destroy());
  });
  server.on('error', (error) => fail(`listen ${addr}: ${error.message}`));
  server.listen(Number(addrMatch[1]), '127.0.0.1', () => {
    process.stdout.write(`stripe-sync-engine peer listening on http://127.0.0.1:${server.address().port}\n`); // the bound port (PORT 0: a free one)
  });

  const shutdown = () => {
    server.close(() => sync.close().finally(() => process.exit(0)));
    server.closeAllConnections();
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((error) => fail(error && error.stack ? error.stack : String(error)));
