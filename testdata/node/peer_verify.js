// peer_verify.js: stripe-node's webhooks.signature.verifyHeader as a line filter, for the
// Go peer test (appauth TestPeerStripeNodeVerifiesSign).
//
//   APPBACKEND_NODE_MODULES=testdata/node/node_modules node testdata/node/peer_verify.js < lines
//
// Each input line is a JSON object {"payload": <base64 of the body bytes>, "header":
// <Stripe-Signature value>, "secret": <secret>, "received_at": <unix seconds>}. The payload
// is handed to verifyHeader as bytes (a Buffer), exactly as a raw-body Express route does;
// received_at pins the clock so the tolerance check is deterministic. Each output line is
// "ok" or "error <base64 of the error message>", in input order.
'use strict';

const path = require('path');
const readline = require('readline');

const modules = process.env.APPBACKEND_NODE_MODULES;
const Stripe = require(modules ? path.join(modules, 'stripe') : 'stripe');
// verifyHeader needs no API key; the client is only a handle on stripe.webhooks.
const stripe = Stripe('sk_test_unused_by_signature_verification');

const b64 = (s) => Buffer.from(String(s), 'utf8').toString('base64');
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];

lines.on('line', (line) => {
  let result;
  try {
    const c = JSON.parse(line);
    stripe.webhooks.signature.verifyHeader(
      Buffer.from(c.payload, 'base64'), c.header, c.secret, 300, undefined, c.received_at * 1000);
    result = 'ok';
  } catch (err) {
    result = 'error ' + b64(err && err.message);
  }
  out.push(result);
  if (out.length >= 256) flush();
});
lines.on('close', flush);

function flush() {
  if (out.length > 0) process.stdout.write(out.join('\n') + '\n');
  out.length = 0;
}
