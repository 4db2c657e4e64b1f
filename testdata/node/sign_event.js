// sign_event.js: signs webhook payloads with stripe-node's
// stripe.webhooks.generateTestHeaderString, the helper Stripe's Node library gives
// apps for testing their endpoints. The end-to-end tests (e2e/) post events signed by it
// to the real server, next to events signed by stripe-go.
//
// One payload, from the command line:
//
//   node testdata/node/sign_event.js --secret whsec_… [--timestamp UNIX] < body.json
//
// prints the Stripe-Signature header for the exact bytes of body.json.
//
// Many payloads, as a line filter (how the tests use it; one process serves a whole run):
//
//   node testdata/node/sign_event.js --lines
//
// reads one JSON object per line, {"payload": <the body as a string>, "secret": <whsec_…>,
// "timestamp": <unix seconds>}, and answers each at once with one line,
// {"header": <Stripe-Signature>} or {"error": <message>}.
//
// stripe-node is loaded from $APPBACKEND_NODE_MODULES (set by `make test`), else from
// testdata/node/node_modules next to this script (installed by `make node-deps`).
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

const modules = process.env.APPBACKEND_NODE_MODULES || path.join(__dirname, 'node_modules');
let Stripe;
try {
  Stripe = require(path.join(modules, 'stripe'));
} catch (err) {
  process.stderr.write(`sign_event.js: stripe-node is not installed in ${modules}: run make node-deps (${err.message})\n`);
  process.exit(3);
}
// The key is never used: signing test headers needs no API access.
const stripe = Stripe('sk_test_unused_by_signature_generation');

function sign(payload, secret, timestamp) {
  if (typeof payload !== 'string') throw new Error('payload must be a string');
  if (typeof secret !== 'string' || secret === '') throw new Error('secret is required');
  const opts = { payload, secret };
  if (timestamp !== undefined && timestamp !== null) {
    if (!Number.isInteger(timestamp) || timestamp <= 0) throw new Error('timestamp must be Unix seconds');
    opts.timestamp = timestamp;
  }
  return stripe.webhooks.generateTestHeaderString(opts);
}

function argValue(args, name) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : undefined;
}

function main(args) {
  if (args.includes('--lines')) {
    const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    lines.on('line', (line) => {
      let answer;
      try {
        const req = JSON.parse(line);
        answer = { header: sign(req.payload, req.secret, req.timestamp) };
      } catch (err) {
        answer = { error: String(err && err.message) };
      }
      process.stdout.write(JSON.stringify(answer) + '\n');
    });
    return;
  }
  const secret = argValue(args, '--secret');
  if (!secret) {
    process.stderr.write('usage: sign_event.js --secret whsec_… [--timestamp UNIX] < body  |  sign_event.js --lines\n');
    process.exit(2);
  }
  const ts = argValue(args, '--timestamp');
  const payload = fs.readFileSync(0, 'utf8');
  process.stdout.write(sign(payload, secret, ts === undefined ? undefined : Number(ts)) + '\n');
}

main(process.argv.slice(2));
