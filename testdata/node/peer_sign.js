// peer_sign.js: stripe-node's webhooks.generateTestHeaderString as a line filter, for the
// Go peer test (appauth TestVerifyAcceptsStripeNodeHeaders).
//
//   APPBACKEND_NODE_MODULES=testdata/node/node_modules node testdata/node/peer_sign.js < lines
//
// Each input line is a JSON object {"payload": <base64 of the UTF-8 body>, "secret":
// <secret>, "timestamp": <unix seconds>}. Each output line is "ok <header>" or
// "error <base64 of the error message>", in input order.
'use strict';

const path = require('path');
const readline = require('readline');

const modules = process.env.APPBACKEND_NODE_MODULES;
const Stripe = require(modules ? path.join(modules, 'stripe') : 'stripe');
const stripe = Stripe('sk_test_unused_by_signature_generation');

const b64 = (s) => Buffer.from(String(s), 'utf8').toString('base64');
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];

lines.on('line', (line) => {
  let result;
  try {
    const c = JSON.parse(line);
    const payload = Buffer.from(c.payload, 'base64').toString('utf8');
    result = 'ok ' + stripe.webhooks.generateTestHeaderString({ payload, secret: c.secret, timestamp: c.timestamp });
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
