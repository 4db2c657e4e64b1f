// Unit tests of the built package (dist/), with a fake fetch and a recording signer.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { BackendError, createBackend, isBackendError } from '../dist/index.js';
import { context, fakeFetch, jobStatus, json, recordingSigner } from './helpers.mjs';

const baseUrl = 'https://backend.example.com/';

function setup(answers, opts = {}) {
  const fetch = fakeFetch(answers);
  const fetchSignature = recordingSigner();
  const backend = createBackend({ baseUrl, context: context(opts.ctx), fetch, fetchSignature, ...opts.options });
  return { backend, fetch, fetchSignature };
}

describe('POST', () => {
  it('signs payload + livemode and sends exactly {...signed, user_id, account_id}', async () => {
    const { backend, fetch, fetchSignature } = setup([json(200, { success: true })]);
    const out = await backend.post('/api/do_more_secret_stuff', { payload: { transaction_id: 'ipi_1', amount: 100 } });
    assert.deepEqual(out, { success: true });
    assert.deepEqual(fetchSignature.calls, [[{ transaction_id: 'ipi_1', amount: 100, livemode: false }]]);
    const [req] = fetch.requests;
    assert.equal(req.url.href, 'https://backend.example.com/api/do_more_secret_stuff');
    assert.equal(req.init.method, 'POST');
    assert.equal(
      req.init.body,
      '{"transaction_id":"ipi_1","amount":100,"livemode":false,"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}',
    );
    assert.equal(req.init.headers['Stripe-Signature'], 't=1,v1=sig_1');
    assert.equal(req.init.headers['Content-Type'], 'application/json');
  });

  it('takes livemode from environment.mode, the options, the request or the payload', async () => {
    const cases = [
      [{ ctx: { mode: 'live' } }, {}, { livemode: true }],
      [{ options: { livemode: false }, ctx: { mode: 'live' } }, {}, { livemode: false }],
      [{ options: { livemode: true } }, { livemode: false }, { livemode: false }],
      [{}, { payload: { livemode: true, a: 1 } }, { livemode: true, a: 1 }],
      [{ ctx: { mode: 'live' } }, { payload: { a: 'x' }, livemode: null }, { a: 'x' }],
    ];
    for (const [opts, req, signed] of cases) {
      const { backend, fetchSignature } = setup([json(200, {})], opts);
      await backend.post('/api/x', req);
      assert.deepEqual(fetchSignature.calls, [[signed]], JSON.stringify({ opts, req }));
    }
  });

  it('with nothing to sign, calls fetchSignature() without a payload and sends the default body', async () => {
    const { backend, fetch, fetchSignature } = setup([json(200, { success: true })], { options: { livemode: null } });
    await backend.post('/api/do_secret_stuff');
    assert.deepEqual(fetchSignature.calls, [[]]);
    assert.equal(fetch.requests[0].init.body, '{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}');
  });

  it('signs stripe_roles: userContext.roles with signRoles', async () => {
    const roles = [
      { id: 'admin', name: 'Administrator', type: 'builtIn' },
      { id: 'rol_custom', name: 'Tagger', type: 'custom' },
    ];
    const { backend, fetch, fetchSignature } = setup([json(200, {})], { ctx: { roles } });
    await backend.post('/api/tags', { payload: { tag: 'vip' }, signRoles: true });
    assert.deepEqual(fetchSignature.calls, [[{ tag: 'vip', livemode: false, stripe_roles: roles }]]);
    assert.equal(
      fetch.requests[0].init.body,
      JSON.stringify({ tag: 'vip', livemode: false, stripe_roles: roles, user_id: 'usr_K6yd2CbXLO9A5G', account_id: 'acct_1JSkf6FRwUQjTSJE' }),
    );
  });

  it('gets a fresh signature for every request', async () => {
    const { backend, fetch, fetchSignature } = setup([json(200, {}), json(200, {})]);
    await backend.post('/api/a');
    await backend.post('/api/a');
    assert.equal(fetchSignature.calls.length, 2);
    assert.deepEqual(
      fetch.requests.map((r) => r.init.headers['Stripe-Signature']),
      ['t=1,v1=sig_1', 't=1,v1=sig_2'],
    );
  });

  it('answers null for an empty 2xx body', async () => {
    const { backend } = setup([{ status: 204, body: '' }]);
    assert.equal(await backend.post('/api/a'), null);
  });
});

describe('GET and DELETE', () => {
  for (const [method, call] of [
    ['GET', (b, p, o) => b.get(p, o)],
    ['DELETE', (b, p, o) => b.del(p, o)],
  ]) {
    it(`${method} signs {livemode}, carries it and the ids in the query, and sends no body`, async () => {
      const { backend, fetch, fetchSignature } = setup([json(200, { ok: 1 })]);
      assert.deepEqual(await call(backend, '/api/items/7', { query: { expand: 'x', skip: undefined } }), { ok: 1 });
      assert.deepEqual(fetchSignature.calls, [[{ livemode: false }]], 'fetchSignature({livemode})');
      const [req] = fetch.requests;
      assert.equal(req.init.method, method);
      assert.equal(req.init.body, undefined);
      assert.equal(req.init.headers['Content-Type'], undefined);
      assert.equal(req.url.pathname, '/api/items/7');
      assert.deepEqual([...req.url.searchParams], [
        ['expand', 'x'],
        ['livemode', 'false'],
        ['user_id', 'usr_K6yd2CbXLO9A5G'],
        ['account_id', 'acct_1JSkf6FRwUQjTSJE'],
      ]);
    });

    it(`${method} takes livemode from environment.mode, the options or the request; null signs the default string`, async () => {
      const cases = [
        [{ ctx: { mode: 'live' } }, {}, [{ livemode: true }], 'true'],
        [{ options: { livemode: true } }, { livemode: false }, [{ livemode: false }], 'false'],
        [{ ctx: { mode: 'live' } }, { livemode: null }, [], null],
        [{ options: { livemode: null } }, {}, [], null],
      ];
      for (const [opts, ro, signed, query] of cases) {
        const { backend, fetch, fetchSignature } = setup([json(200, {})], opts);
        await call(backend, '/api/policy', ro);
        assert.deepEqual(fetchSignature.calls, [signed], JSON.stringify({ opts, ro }));
        assert.equal(fetch.requests[0].url.searchParams.get('livemode'), query);
      }
    });

    it(`${method} refuses an unsigned livemode in query`, async () => {
      const { backend } = setup([]);
      await assert.rejects(call(backend, '/api/x', { query: { livemode: true } }), (e) => e.code === 'bad_request' && /pass \{ livemode \}/.test(e.message));
    });
  }

  it('refuses a payload on a method without a body', async () => {
    const { backend } = setup([]);
    await assert.rejects(backend.request('GET', '/api/x', { payload: { a: 1 } }), { name: 'BackendError', code: 'bad_request' });
  });

  it('installation() is GET /api/installation', async () => {
    const inst = { account_id: 'acct_1JSkf6FRwUQjTSJE', live: null, test: null };
    const { backend, fetch } = setup([json(200, inst)]);
    assert.deepEqual(await backend.installation(), inst);
    assert.equal(fetch.requests[0].url.pathname, '/api/installation');
  });
});

describe('errors', () => {
  it("turns appbackend's error JSON into a BackendError", async () => {
    const { backend } = setup([json(403, { error: { code: 'role_required', message: 'admin only' } }, { 'X-Request-Id': 'req_1' })]);
    const err = await backend.post('/api/x').catch((e) => e);
    assert.ok(err instanceof BackendError && err instanceof Error);
    assert.ok(isBackendError(err, 'role_required'));
    assert.equal(err.code, 'role_required');
    assert.equal(err.status, 403);
    assert.equal(err.message, 'admin only');
    assert.equal(err.requestId, 'req_1');
    assert.equal(err.reason, undefined);
  });

  it("exposes the app's reason beside the code", async () => {
    const { backend } = setup([
      json(403, { error: { code: 'forbidden', message: 'over the refund limit', reason: 'refund_limit' } }),
      json(403, { error: { code: 'forbidden', message: 'm', reason: 7 } }),
    ]);
    const err = await backend.post('/api/refunds').catch((e) => e);
    assert.equal(err.code, 'forbidden');
    assert.equal(err.reason, 'refund_limit');
    assert.equal(err.message, 'over the refund limit');
    assert.equal((await backend.post('/api/refunds').catch((e) => e)).reason, undefined, 'a reason that is not a string is not one');
  });

  it('a network failure is network_error with status 0', async () => {
    const { backend } = setup([new TypeError('fetch failed')]);
    await assert.rejects(backend.get('/api/x'), (e) => e.code === 'network_error' && e.status === 0 && e.cause instanceof TypeError);
  });

  it('an answer that is not JSON is invalid_response', async () => {
    const { backend } = setup([{ status: 502, body: '<html>Bad Gateway</html>' }, { status: 200, body: 'ok' }]);
    await assert.rejects(backend.get('/api/x'), { code: 'invalid_response', status: 502 });
    await assert.rejects(backend.get('/api/x'), { code: 'invalid_response', status: 200 });
  });

  it('retries signature_expired once with a fresh signature', async () => {
    const expired = json(401, { error: { code: 'signature_expired', message: 'too old' } });
    const { backend, fetch, fetchSignature } = setup([expired, json(200, { success: true })]);
    assert.deepEqual(await backend.post('/api/x', { payload: { a: 1 } }), { success: true });
    assert.equal(fetchSignature.calls.length, 2);
    assert.deepEqual(fetchSignature.calls[1], [{ a: 1, livemode: false }]);
    assert.equal(fetch.requests[1].init.headers['Stripe-Signature'], 't=1,v1=sig_2');
    assert.equal(fetch.requests[0].init.body, fetch.requests[1].init.body);

    const twice = setup([expired, expired, json(200, {})]);
    await assert.rejects(twice.backend.get('/api/x'), { code: 'signature_expired', status: 401 });
    assert.equal(twice.fetch.requests.length, 2, 'only once');
  });

  it('a failing fetchSignature is signature_unavailable', async () => {
    const backend = createBackend({
      baseUrl,
      context: context(),
      fetch: fakeFetch([]),
      fetchSignature: async () => {
        throw new Error('Stripe refused: role not assigned');
      },
    });
    await assert.rejects(backend.post('/api/x', { signRoles: true }), (e) => e.code === 'signature_unavailable' && /role not assigned/.test(e.message));
  });

  it('without fetchSignature and outside the Dashboard, the SDK cannot sign: signature_unavailable', async () => {
    const backend = createBackend({ baseUrl, context: context(), fetch: fakeFetch([]) });
    await assert.rejects(backend.post('/api/x'), { code: 'signature_unavailable' });
  });

  it('a context without user or account is invalid_context', async () => {
    const ctx = context();
    delete ctx.userContext.id;
    const backend = createBackend({ baseUrl, context: ctx, fetch: fakeFetch([]), fetchSignature: recordingSigner() });
    await assert.rejects(backend.post('/api/x'), { code: 'invalid_context' });
  });

  it('an aborted request is aborted', async () => {
    const controller = new AbortController();
    const fetch = fakeFetch(
      (req) =>
        new Promise((_, reject) => {
          req.init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const backend = createBackend({ baseUrl, context: context(), fetch, fetchSignature: recordingSigner() });
    const p = backend.get('/api/x', { signal: controller.signal });
    setTimeout(() => controller.abort(), 5);
    await assert.rejects(p, { code: 'aborted', status: 0 });
  });
});

describe('jobs', () => {
  it('job(id) is GET /api/jobs/{id}', async () => {
    const { backend, fetch } = setup([json(200, jobStatus(12, 'running'))]);
    assert.equal((await backend.job(12)).state, 'running');
    assert.equal(fetch.requests[0].url.pathname, '/api/jobs/12');
  });

  it('waitForJob polls with back-off until completed, through an outage, and resolves to the output', async () => {
    const times = [];
    const { backend } = setup((req, i) => {
      times.push(performance.now());
      return [
        json(200, jobStatus(3, 'available')),
        json(200, jobStatus(3, 'running')),
        new TypeError('fetch failed'),
        json(503, { error: { code: 'unavailable', message: 'restarting' } }),
        json(200, jobStatus(3, 'retryable', { errors: [{ attempt: 1, at: 'x', error: 'boom' }] })),
        json(200, jobStatus(3, 'completed', { output: { rows: 42 } })),
      ][i];
    });
    const updates = [];
    const out = await backend.waitForJob(3, { intervalMs: 10, maxIntervalMs: 40, onUpdate: (s) => updates.push(s.state) });
    assert.deepEqual(out, { rows: 42 });
    assert.deepEqual(updates, ['available', 'running', 'retryable', 'completed']);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    assert.ok(gaps[0] >= 9 && gaps[1] >= 14 && gaps[3] >= 30, `back-off: ${gaps.map(Math.round)}`);
  });

  it("a discarded job rejects with job_failed and the job's last error", async () => {
    const failed = jobStatus(4, 'discarded', { errors: [{ attempt: 1, at: 'a', error: 'first' }, { attempt: 2, at: 'b', error: 'no balance' }] });
    const { backend } = setup([json(200, failed)]);
    const err = await backend.waitForJob(4).catch((e) => e);
    assert.equal(err.code, 'job_failed');
    assert.equal(err.message, 'no balance');
    assert.equal(err.job.id, 4);
  });

  it('a cancelled job rejects with job_cancelled; a missing one with not_found', async () => {
    const { backend } = setup([json(200, jobStatus(5, 'cancelled')), json(404, { error: { code: 'not_found', message: 'no such job' } })]);
    await assert.rejects(backend.waitForJob(5), { code: 'job_cancelled' });
    await assert.rejects(backend.waitForJob(6), { code: 'not_found', status: 404 });
  });

  it('times out with job_timeout and stops on abort', async () => {
    const { backend } = setup(() => json(200, jobStatus(7, 'running')));
    await assert.rejects(backend.waitForJob(7, { intervalMs: 5, timeoutMs: 30 }), { code: 'job_timeout' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(backend.waitForJob(7, { intervalMs: 5, signal: controller.signal }), { code: 'aborted' });
  });
});

describe('package', () => {
  it('every relative import in dist carries its .js extension', () => {
    const dist = new URL('../dist/', import.meta.url);
    for (const f of readdirSync(dist)) {
      if (!f.endsWith('.js') && !f.endsWith('.d.ts')) continue;
      const src = readFileSync(new URL(f, dist), 'utf8');
      for (const m of src.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]*)['"]/g)) {
        assert.match(m[1], /\.js$/, `${f}: ${m[0]}`);
      }
    }
  });

  it('the main entry does not load React or the SDK', async () => {
    const src = readFileSync(new URL('../dist/backend.js', import.meta.url), 'utf8');
    assert.doesNotMatch(src, /from 'react'/);
    assert.doesNotMatch(src, /^import .*@stripe/m);
  });
});

describe('restricted keys', () => {
  const key = 'rk_test_51FakeRestrictedKeyxxxxxxxxxxxxxxxx';

  it('saveRestrictedKey signs {restricted_key, livemode} and POSTs it to the built-in route', async () => {
    const answer = { account_id: 'acct_1JSkf6FRwUQjTSJE', livemode: false, restricted_key: { last4: 'xxxx', status: 'active', user_id: 'usr_K6yd2CbXLO9A5G' } };
    const { backend, fetch, fetchSignature } = setup([json(200, answer)]);
    assert.deepEqual(await backend.saveRestrictedKey(`  ${key}\n`), answer);
    assert.deepEqual(fetchSignature.calls, [[{ restricted_key: key, livemode: false }]]);
    const [req] = fetch.requests;
    assert.equal(req.url.pathname, '/api/appbackend/restricted-key');
    assert.equal(req.init.method, 'POST');
    assert.equal(req.init.body, `{"restricted_key":"${key}","livemode":false,"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`);
  });

  it('saveRestrictedKey takes the mode of the view or of its options', async () => {
    const { backend, fetchSignature } = setup([json(200, {}), json(200, {})], { ctx: { mode: 'live' } });
    await backend.saveRestrictedKey(key.replace('rk_test_', 'rk_live_'));
    await backend.saveRestrictedKey(key, { livemode: false });
    assert.deepEqual(fetchSignature.calls.map(([p]) => p.livemode), [true, false]);
  });

  it('saveRestrictedKey refuses what is not a restricted key before signing or sending it', async () => {
    for (const [pasted, why] of [
      ['sk_live_51SecretKeyOfTheMerchantxxxxxxxx', /secret key \(sk_…\)/],
      ['pk_test_51Publishablexxxxxxxxxxxxxxxx', /publishable key/],
      ['rk_test_short', /does not look like a restricted key/],
      ['', /paste the restricted key/],
      [undefined, /paste the restricted key/],
    ]) {
      const { backend, fetch, fetchSignature } = setup([]);
      const err = await backend.saveRestrictedKey(pasted).catch((e) => e);
      assert.ok(err instanceof BackendError, String(pasted));
      assert.equal(err.code, 'bad_request');
      assert.match(err.message, why);
      if (pasted) assert.ok(!err.message.includes(pasted), 'the key is not echoed');
      assert.equal(fetchSignature.calls.length, 0, 'nothing signed');
      assert.equal(fetch.requests.length, 0, 'nothing sent');
    }
  });

  it("saveRestrictedKey rejects with the backend's error", async () => {
    const { backend } = setup([json(400, { error: { code: 'bad_request', message: 'this restricted key is for another Stripe account' } })]);
    await assert.rejects(backend.saveRestrictedKey(key), (e) => e.code === 'bad_request' && e.status === 400 && /another Stripe account/.test(e.message));
  });

  it('restrictedKey() is a signed GET of the built-in route', async () => {
    const answer = { account_id: 'acct_1JSkf6FRwUQjTSJE', livemode: false, restricted_key: null };
    const { backend, fetch, fetchSignature } = setup([json(200, answer)]);
    assert.deepEqual(await backend.restrictedKey(), answer);
    assert.equal(fetch.requests[0].url.pathname, '/api/appbackend/restricted-key');
    assert.equal(fetch.requests[0].url.searchParams.get('livemode'), 'false');
    assert.deepEqual(fetchSignature.calls, [[{ livemode: false }]]);
  });
});
