// End to end: the built client against a real `appbackend serve`, the quickstart (on
// stripe-mock) and the invoicetagger example, each built from this repository with
// `go build` and run on a free loopback port with its own SQLite database. fetchSignature
// is replaced by a signer doing exactly what Stripe does: HMAC-SHA256 with the app secret
// over `t.` + JSON.stringify({...payload, user_id, account_id}), through the real stripe
// package's generateTestHeaderString.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import Stripe from 'stripe';

import { BackendError, createBackend } from '../dist/index.js';
import { context } from './helpers.mjs';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const APP_SECRET = 'absec_e2e_ui_extension_secret';
const WEBHOOK_SECRET = 'whsec_e2e_ui_extension_secret';
const stripe = new Stripe('sk_test_unused_by_signature_generation');

/**
 * What Stripe does for fetchStripeSignature(payload): sign JSON.stringify({...payload,
 * user_id, account_id}) for the signed-in user, ageSeconds in the past.
 */
export function stripeSigner(ctx, { secret = APP_SECRET, age = () => 0 } = {}) {
  const calls = [];
  const fn = async (payload) => {
    calls.push(payload);
    const signed = JSON.stringify({ ...payload, user_id: ctx.userContext.id, account_id: ctx.userContext.account.id });
    const timestamp = Math.floor(Date.now() / 1000) - age(calls.length);
    return stripe.webhooks.generateTestHeaderString({ payload: signed, secret, timestamp });
  };
  fn.calls = calls;
  return fn;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** go build the commands into dir, in parallel. */
export async function buildBinaries(dir, pkgs) {
  await Promise.all(
    Object.entries(pkgs).map(([name, pkg]) =>
      run('go', ['build', '-o', join(dir, name), pkg], { cwd: ROOT, maxBuffer: 1 << 24 }).catch((err) => {
        throw new Error(`go build ${pkg}: ${err.stderr || err.message}`);
      }),
    ),
  );
}

/** Starts a server binary on a free port and waits until /healthz answers. */
export async function startServer(bin, args, env) {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const proc = spawn(bin, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, APPBACKEND_ADDR: addr },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout.on('data', (d) => (log += d));
  proc.stderr.on('data', (d) => (log += d));
  const url = `http://${addr}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${bin} exited ${proc.exitCode}:\n${log}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error(`${bin} did not answer /healthz in 20 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    log: () => log,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', resolve);
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
      }),
  };
}

/** A plain HTTP server on a free loopback port. */
async function listen(handler) {
  const server = http.createServer(handler);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

const tmp = mkdtempSync(join(tmpdir(), 'appbackend-ui-e2e-'));
const bin = join(tmp, 'bin');
let serve, quickstart, tagger, stripeProxy, fakeStripe, rkServe, rkStripe;
// The restricted key Stripe showed the merchant of acct_1JSkf6FRwUQjTSJE in test mode;
// rkStripe knows it and answers 401 for any other.
const RESTRICTED_KEY = 'rk_test_51E2eRestrictedKeyOfTheMerchant0001';
const rkCalls = [];
const stripeCalls = []; // what reached Stripe through the proxy: {method, path, key, account}

before(async () => {
  await buildBinaries(bin, {
    appbackend: './cmd/appbackend',
    quickstart: './examples/quickstart',
    invoicetagger: './examples/invoicetagger',
  });
  const common = { STRIPE_APP_SECRETS: APP_SECRET, STRIPE_WEBHOOK_SECRETS: WEBHOOK_SECRET };

  // The quickstart's Stripe is stripe-mock behind a proxy that records which key and
  // account each call used (stripe-mock itself ignores both).
  const mock = process.env.STRIPE_MOCK_URL;
  stripeProxy = await listen((req, res) => {
    stripeCalls.push({
      method: req.method,
      path: req.url.split('?')[0],
      key: (req.headers.authorization || '').replace(/^Bearer /, ''),
      account: req.headers['stripe-account'] || null,
    });
    if (!mock) {
      res.writeHead(503, { 'Content-Type': 'application/json' });
      return res.end('{"error":{"type":"api_error","message":"STRIPE_MOCK_URL is not set"}}');
    }
    // stripe-mock accepts test keys only: the live key is recorded above, then swapped.
    const headers = { ...req.headers, authorization: 'Bearer sk_test_123' };
    delete headers.host;
    const up = http.request(new URL(req.url, mock), { method: req.method, headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
  });
  // The invoicetagger's Stripe: any invoice update succeeds.
  fakeStripe = await listen((req, res) => {
    req.resume();
    req.on('end', () => {
      const id = req.url.split('?')[0].split('/').pop();
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id, object: 'invoice', livemode: false, metadata: {} }));
    });
  });

  rkStripe = await listen((req, res) => {
    const key = (req.headers.authorization || '').replace(/^Bearer /, '');
    rkCalls.push({ method: req.method, path: req.url.split('?')[0], key, account: req.headers['stripe-account'] || null });
    req.resume();
    res.setHeader('Content-Type', 'application/json');
    if (key !== RESTRICTED_KEY) {
      res.writeHead(401);
      return res.end(JSON.stringify({ error: { type: 'invalid_request_error', message: `Invalid API Key provided: ${key.slice(0, 8)}****${key.slice(-4)}` } }));
    }
    res.writeHead(200);
    res.end(JSON.stringify({ id: 'acct_1JSkf6FRwUQjTSJE', object: 'account' }));
  });

  [serve, quickstart, tagger, rkServe] = await Promise.all([
    startServer(join(bin, 'appbackend'), ['serve'], { ...common, APPBACKEND_DATABASE: `sqlite:${join(tmp, 'serve.db')}` }),
    startServer(join(bin, 'quickstart'), [], {
      ...common,
      APPBACKEND_DATABASE: `sqlite:${join(tmp, 'quickstart.db')}`,
      STRIPE_API_BASE: stripeProxy.url,
      STRIPE_SECRET_KEY: 'sk_live_e2eQuickstart',
      STRIPE_TEST_SECRET_KEY: 'sk_test_e2eQuickstart',
    }),
    startServer(join(bin, 'invoicetagger'), [], {
      ...common,
      APPBACKEND_DATABASE: `sqlite:${join(tmp, 'tagger.db')}`,
      STRIPE_API_BASE: fakeStripe.url,
      STRIPE_TEST_SECRET_KEY: 'sk_test_e2eTagger',
    }),
    // A restricted-key app: no platform key at all.
    startServer(join(bin, 'appbackend'), ['serve'], {
      ...common,
      APPBACKEND_DATABASE: `sqlite:${join(tmp, 'rk.db')}`,
      APPBACKEND_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
      STRIPE_API_BASE: rkStripe.url,
    }),
  ]);
}, { timeout: 300_000 }); // go build on a cold cache

after(async () => {
  await Promise.all([serve?.stop(), quickstart?.stop(), tagger?.stop(), rkServe?.stop(), stripeProxy?.close(), fakeStripe?.close(), rkStripe?.close()]);
  rmSync(tmp, { recursive: true, force: true });
});

function client(server, ctx = context(), opts = {}) {
  const fetchSignature = opts.fetchSignature ?? stripeSigner(ctx, opts.signer);
  return { backend: createBackend({ baseUrl: server.url, context: ctx, fetchSignature, ...opts.options }), fetchSignature };
}

describe('restricted keys (appbackend serve without a platform key)', () => {
  it('saveRestrictedKey stores a key Stripe confirms for the account, and restrictedKey() shows its last 4', async () => {
    const { backend } = client(rkServe);
    assert.deepEqual((await backend.restrictedKey()).restricted_key, null);
    const saved = await backend.saveRestrictedKey(RESTRICTED_KEY);
    assert.equal(saved.account_id, 'acct_1JSkf6FRwUQjTSJE');
    assert.equal(saved.livemode, false);
    assert.deepEqual(saved.restricted_key, { last4: RESTRICTED_KEY.slice(-4), status: 'active', user_id: 'usr_K6yd2CbXLO9A5G' });
    const check = rkCalls.at(-1);
    assert.deepEqual(check, { method: 'GET', path: '/v1/account', key: RESTRICTED_KEY, account: null });
    assert.deepEqual((await backend.restrictedKey()).restricted_key, saved.restricted_key);
    assert.ok(!rkServe.log().includes(RESTRICTED_KEY), 'the key is never logged');
  });

  it('a key Stripe rejects is a bad_request that does not echo it, and nothing is stored', async () => {
    const { backend } = client(rkServe, context({ accountId: 'acct_RkOther' }));
    const wrong = 'rk_test_51E2eNotAKeyStripeKnowsxxxxxxx';
    const err = await backend.saveRestrictedKey(wrong).catch((e) => e);
    assert.ok(err instanceof BackendError);
    assert.equal(err.code, 'bad_request');
    assert.equal(err.status, 400);
    assert.match(err.message, /Stripe rejected this restricted key/);
    assert.ok(!err.message.includes(wrong));
    assert.equal((await backend.restrictedKey()).restricted_key, null);
    assert.ok(!rkServe.log().includes(wrong));
  });
});

describe('appbackend serve', () => {
  it('verifies the default signature', async () => {
    const { backend } = client(serve, context(), { options: { livemode: null } });
    assert.deepEqual(await backend.post('/api/whoami'), {
      user_id: 'usr_K6yd2CbXLO9A5G',
      account_id: 'acct_1JSkf6FRwUQjTSJE',
      roles: [],
      payload: null,
    });
  });

  it('verifies a payload signature, nested values, livemode and roles included', async () => {
    const roles = [
      { id: 'admin', name: 'Administrator', type: 'builtIn' },
      { id: 'developer', name: 'Developer', type: 'builtIn' },
    ];
    const ctx = context({ mode: 'live', roles });
    const { backend } = client(serve, ctx);
    const payload = { transaction_id: 'ipi_1KRmFUFRwUQjTSJEjRnCCPyV', amount: 100, note: 'é <&> \u2028', nested: { list: [1, 'two', null, true] }, 10: 'ten' };
    const out = await backend.post('/api/whoami', { payload, signRoles: true });
    assert.deepEqual(out.roles, ['admin', 'developer']);
    assert.deepEqual(out.payload, { ...payload, livemode: true, stripe_roles: roles });
  });

  it('verifies GET and DELETE signed with {livemode} (or the default string), livemode and the ids in the query', async () => {
    const { backend, fetchSignature } = client(serve);
    const inst = await backend.installation();
    assert.deepEqual(inst, { account_id: 'acct_1JSkf6FRwUQjTSJE', live: null, test: null });
    assert.deepEqual(fetchSignature.calls, [{ livemode: false }], 'fetchSignature({livemode})');
    assert.deepEqual(await backend.installation({ livemode: true }), inst);
    assert.deepEqual(await backend.installation({ livemode: null }), inst, 'the default string still verifies');
    assert.deepEqual(fetchSignature.calls.slice(1), [{ livemode: true }, undefined]);
    // No DELETE route: the signature verifies, then the route says no.
    const err = await backend.del('/api/installation').catch((e) => e);
    assert.ok(err instanceof BackendError);
    assert.equal(err.code, 'method_not_allowed', err.message);
  });

  it('installation() shows an install once Stripe reports it', async () => {
    const ctx = context({ accountId: 'acct_e2einstalled' });
    const { backend } = client(serve, ctx);
    await run(join(bin, 'appbackend'), [
      'trigger', 'account.application.authorized', '--account', 'acct_e2einstalled', '--test',
      '--url', `${serve.url}/webhooks/stripe`, '--secret', WEBHOOK_SECRET,
    ]);
    let inst;
    for (let i = 0; i < 100; i++) {
      inst = await backend.installation();
      if (inst.test) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(inst.account_id, 'acct_e2einstalled');
    assert.equal(inst.test?.status, 'installed', JSON.stringify(inst));
    assert.equal(inst.live, null);
    // The keys InstallationMode declares (src/types.ts), as the server answers them: a
    // field the server adds or drops shows here.
    assert.deepEqual(Object.keys(inst.test).sort(), [
      'account_id', 'application_id', 'approval_required', 'display_name', 'install_id', 'installed_at',
      'last_event_id', 'livemode', 'permissions_granted', 'permissions_pending', 'status', 'uninstalled_at', 'updated_at',
    ]);
    assert.deepEqual(inst.test.permissions_pending, []);
    assert.deepEqual(inst.test.permissions_granted, []);
    assert.equal(inst.test.approval_required, false);
  });

  it('answers errors as typed BackendErrors', async () => {
    const wrong = client(serve, context(), { signer: { secret: 'absec_not_the_apps' } }).backend;
    await assert.rejects(wrong.post('/api/whoami'), { name: 'BackendError', code: 'signature_invalid', status: 401 });
    const { backend } = client(serve);
    await assert.rejects(backend.job(987654), { code: 'not_found', status: 404 });
    const closed = createBackend({ baseUrl: `http://127.0.0.1:${await freePort()}`, context: context(), fetchSignature: stripeSigner(context()) });
    await assert.rejects(closed.post('/api/whoami'), { code: 'network_error', status: 0 });
  });

  it('retries an expired signature once with a fresh one', async () => {
    const { backend, fetchSignature } = client(serve, context(), { signer: { age: (n) => (n === 1 ? 600 : 0) } });
    const out = await backend.post('/api/whoami', { payload: { a: 1 } });
    assert.deepEqual(out.payload, { a: 1, livemode: false });
    assert.equal(fetchSignature.calls.length, 2);
    const stale = client(serve, context(), { signer: { age: () => 600 } });
    await assert.rejects(stale.backend.get('/api/installation'), { code: 'signature_expired', status: 401 });
    assert.equal(stale.fetchSignature.calls.length, 2);
  });
});

describe('invoicetagger: roles reach appauth.RequireRole', () => {
  it('refuses without the signed admin role and accepts with it', async () => {
    const viewer = client(tagger, context({ roles: [{ id: 'view_only', name: 'View only', type: 'builtIn' }] })).backend;
    await assert.rejects(viewer.post('/api/invoices/in_e2e1/tags', { payload: { tag: 'vip' }, signRoles: true }), {
      code: 'role_required',
      status: 403,
    });
    const { backend } = client(tagger, context());
    await assert.rejects(backend.post('/api/invoices/in_e2e1/tags', { payload: { tag: 'vip' } }), { code: 'role_required' });
    const out = await backend.post('/api/invoices/in_e2e1/tags', { payload: { tag: 'vip' }, signRoles: true });
    assert.equal(out.invoice_id, 'in_e2e1');
    assert.deepEqual(out.tags.map((t) => [t.tag, t.added_by]), [['vip', 'usr_K6yd2CbXLO9A5G']]);
    const listed = await backend.get('/api/invoices/in_e2e1/tags');
    assert.deepEqual(listed.tags.map((t) => t.tag), ['vip']);
    await assert.rejects(backend.post('/api/invoices/in_e2e1/tags', { payload: { tag: 'vip' }, signRoles: true }), {
      code: 'conflict',
      status: 409,
    });
  });
});

describe('quickstart', () => {
  it("answers the Stripe page's two signed endpoints", async () => {
    const { backend } = client(quickstart, context(), { options: { livemode: null } });
    assert.deepEqual(await backend.post('/api/do_secret_stuff'), { success: true });
    const more = client(quickstart).backend;
    assert.deepEqual(
      await more.post('/api/do_more_secret_stuff', { payload: { transaction_id: 'ipi_1KRmFUFRwUQjTSJEjRnCCPyV', amount: 100 } }),
      { success: true },
    );
  });

  it('POST /api/data: the signed livemode selects the key (stripe-mock)', async () => {
    assert.ok(
      process.env.STRIPE_MOCK_URL,
      'STRIPE_MOCK_URL is not set: run the tests with ./scripts/with-services.sh (make test does), which starts stripe-mock',
    );
    const since = stripeCalls.length;
    const test = client(quickstart, context({ mode: 'test', accountId: 'acct_e2emerchantA' })).backend;
    assert.deepEqual(await test.post('/api/data'), { data: [] });
    const live = client(quickstart, context({ mode: 'live', accountId: 'acct_e2emerchantB' })).backend;
    assert.deepEqual(await live.post('/api/data'), { data: [] });
    const creates = stripeCalls.slice(since).filter((c) => c.method === 'POST' && c.path === '/v1/customers');
    assert.deepEqual(
      creates.map((c) => [c.account, c.key]),
      [
        ['acct_e2emerchantA', 'sk_test_e2eQuickstart'],
        ['acct_e2emerchantB', 'sk_live_e2eQuickstart'],
      ],
    );
    const none = client(quickstart, context({ accountId: 'acct_e2emerchantC' }), { options: { livemode: null } }).backend;
    await assert.rejects(none.post('/api/data'), { code: 'mode_required', status: 400 });
  });

  it('POST /api/export: the job is polled to completion (stripe-mock)', async () => {
    assert.ok(
      process.env.STRIPE_MOCK_URL,
      'STRIPE_MOCK_URL is not set: run the tests with ./scripts/with-services.sh (make test does), which starts stripe-mock',
    );
    const { backend } = client(quickstart, context({ accountId: 'acct_e2eexporter' }));
    const { job_id } = await backend.post('/api/export');
    assert.equal(typeof job_id, 'number');
    const states = [];
    const output = await backend.waitForJob(job_id, { intervalMs: 100, timeoutMs: 20_000, onUpdate: (s) => states.push(s.state) });
    assert.equal(states.at(-1), 'completed');
    assert.ok(output && typeof output.available === 'object' && typeof output.pending === 'object', JSON.stringify(output));
    const status = await backend.job(job_id);
    assert.equal(status.kind, 'quickstart.export');
    assert.equal(status.account_id, 'acct_e2eexporter');
    assert.deepEqual(status.output, output);
    const balance = stripeCalls.find((c) => c.path === '/v1/balance' && c.account === 'acct_e2eexporter');
    assert.equal(balance?.key, 'sk_test_e2eQuickstart', 'the job runs in the mode the export was signed in');
    // Another account cannot see the job.
    const other = client(quickstart, context({ accountId: 'acct_e2eother' })).backend;
    await assert.rejects(other.job(job_id), { code: 'not_found' });
  });
});

describe('npm pack', () => {
  it('packs a tarball that installs in an empty folder and drives a running appbackend', async () => {
    const PKG = fileURLToPath(new URL('..', import.meta.url));
    // dist is built already (npm test builds first): no prepack, which would rebuild it
    // under the other test files' feet.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: PKG });
    const [info] = JSON.parse(stdout);
    const files = info.files.map((f) => f.path).sort();
    for (const f of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/react.js', 'dist/react.d.ts']) {
      assert.ok(files.includes(f), `${f} in ${files}`);
    }
    assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('node_modules/')), String(files));

    const app = join(tmp, 'empty-app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'empty-app', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(tmp, info.filename)], { cwd: app });
    // An outside script: plain Node ESM, Stripe's signing scheme done by hand with node:crypto.
    writeFileSync(
      join(app, 'drive.mjs'),
      `import { createHmac } from 'node:crypto';
import { BackendError, createBackend } from '@appbackend/ui-extension';
const [url, secret] = process.argv.slice(2);
const context = { userContext: { id: 'usr_pack', account: { id: 'acct_pack' } }, environment: { mode: 'test' } };
const fetchSignature = async (payload) => {
  const t = Math.floor(Date.now() / 1000);
  const signed = JSON.stringify({ ...payload, user_id: 'usr_pack', account_id: 'acct_pack' });
  return 't=' + t + ',v1=' + createHmac('sha256', secret).update(t + '.' + signed).digest('hex');
};
const backend = createBackend({ baseUrl: url, context, fetchSignature });
const whoami = await backend.post('/api/whoami', { payload: { order: 'ord_1', amount: 5 } });
const installation = await backend.installation();
const error = await backend.job(424242).catch((e) => e instanceof BackendError && e.code);
console.log(JSON.stringify({ whoami, installation, error }));
`,
    );
    const out = await run(process.execPath, ['drive.mjs', serve.url, APP_SECRET], { cwd: app });
    assert.deepEqual(JSON.parse(out.stdout), {
      whoami: { user_id: 'usr_pack', account_id: 'acct_pack', roles: [], payload: { order: 'ord_1', amount: 5, livemode: false } },
      installation: { account_id: 'acct_pack', live: null, test: null },
      error: 'not_found',
    });
  });
});
