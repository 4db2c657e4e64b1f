// express-peer.js: the Express 5 + stripe-node server that appbackend's load test
// (bench/run.sh) compares against. It is the backend Stripe's "Add server-side logic"
// page describes, with the page's two bugs fixed so that it is a fair, correct peer:
//   - it verifies the raw request bytes (express.raw), not a re-serialised parsed object;
//   - a failed verification returns, instead of falling through to the success answer.
// It accepts several app secrets (secret rotation) by trying each in turn, answers CORS
// preflights on /api as the page requires, and answers POST /api/whoami with the same
// JSON as appbackend: {"user_id","account_id","roles":[…],"payload":{…}|null}.
//
// Configuration (environment):
//   STRIPE_APP_SECRETS  comma-separated app signing secrets (absec_…), required
//   EXPRESS_PEER_ADDR   listen address, 127.0.0.1:PORT (default 127.0.0.1:3001; PORT 0 binds
//                       a free one, which the listening line names)
// It listens on loopback only and logs nothing per request (as appbackend's peer in a
// benchmark, logging would measure the terminal, not the server).
'use strict';

const express = require('express');
const Stripe = require('stripe');

const MAX_BODY = '1mb';

function fail(message) {
  process.stderr.write(`express-peer: ${message}\n`);
  process.exit(2);
}

const secrets = (process.env.STRIPE_APP_SECRETS || '')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
if (secrets.length === 0) {
  fail('STRIPE_APP_SECRETS is empty: set one or more comma-separated absec_… secrets');
}

const addr = process.env.EXPRESS_PEER_ADDR || '127.0.0.1:3001';
const addrMatch = /^127\.0\.0\.1:(\d{1,5})$/.exec(addr);
if (!addrMatch || Number(addrMatch[1]) > 65535) {
  fail(`EXPRESS_PEER_ADDR ${JSON.stringify(addr)} must be 127.0.0.1:PORT (loopback only)`);
}

// verifyHeader needs no API key; the client is only a handle on stripe.webhooks.
const stripe = Stripe('sk_test_unused_by_signature_verification');

function sendError(res, status, code, message) {
  res.status(status).json({ error: { code, message } });
}

// verify returns null when the raw body verifies under any configured secret, else the
// error code and message to answer with. A signature error from stripe-node says whether
// the timestamp is too old; anything else is an invalid signature.
function verify(rawBody, sig) {
  let lastError = null;
  for (const secret of secrets) {
    try {
      stripe.webhooks.signature.verifyHeader(rawBody, sig, secret);
      return null;
    } catch (error) {
      lastError = error;
    }
  }
  if (lastError && /timestamp outside the tolerance/i.test(lastError.message)) {
    return { code: 'signature_expired', message: 'signature timestamp outside the tolerance' };
  }
  return { code: 'signature_invalid', message: 'no signature matches the request' };
}

const app = express();
app.disable('x-powered-by');
app.disable('etag');

// CORS on /api only: the UI extension runs with a null origin, and only signed routes
// may answer it (an unauthenticated "*" route is a CSRF hole).
app.use('/api', (req, res, next) => {
  res.set('Access-Control-Allow-Origin', '*');
  if (req.method === 'OPTIONS') {
    res.set({
      'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
      'Access-Control-Allow-Headers': 'Stripe-Signature, Content-Type',
      'Access-Control-Max-Age': '600',
    });
    res.status(204).end();
    return;
  }
  next();
});

app.post('/api/whoami', express.raw({ type: () => true, limit: MAX_BODY }), (req, res) => {
  const sig = req.get('stripe-signature');
  if (!sig) {
    sendError(res, 401, 'signature_missing', 'the Stripe-Signature header is missing');
    return;
  }
  const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const failure = verify(rawBody, sig);
  if (failure) {
    sendError(res, 401, failure.code, failure.message);
    return;
  }

  let body;
  try {
    body = JSON.parse(rawBody.toString('utf8'));
  } catch {
    sendError(res, 400, 'bad_request', 'the body is not JSON');
    return;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    sendError(res, 400, 'bad_request', 'the body is not a JSON object');
    return;
  }

  // The whole raw body is signed, so every key in it is trusted.
  const { user_id: userId, account_id: accountId, ...rest } = body;
  const roles = Array.isArray(rest.stripe_roles)
    ? rest.stripe_roles.map((role) => role && role.id).filter((id) => typeof id === 'string')
    : [];
  const payload = Object.keys(rest).length === 0 ? null : rest;
  res.json({ user_id: userId, account_id: accountId, roles, payload });
});

app.get('/healthz', (req, res) => {
  res.type('text/plain').send('ok\n');
});

// Body-parser errors (too large, unreadable) and anything unexpected: a JSON error,
// never a stack trace.
app.use((err, req, res, next) => {
  if (res.headersSent) {
    next(err);
    return;
  }
  if (err && err.type === 'entity.too.large') {
    sendError(res, 413, 'body_too_large', `the body is over ${MAX_BODY}`);
    return;
  }
  sendError(res, 500, 'internal', 'internal error');
});

const server = app.listen(Number(addrMatch[1]), '127.0.0.1', () => {
  process.stdout.write(`express-peer listening on http://127.0.0.1:${server.address().port}\n`); // the bound port (PORT 0: a free one)
});
server.on('error', (error) => fail(`listen ${addr}: ${error.message}`));

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
