// Test helpers: a recording fake fetch and signer, and contexts shaped like the SDK's.

/** An ExtensionContextValue as the Dashboard hands it to a view. */
export function context({ mode = 'test', roles, userId = 'usr_K6yd2CbXLO9A5G', accountId = 'acct_1JSkf6FRwUQjTSJE' } = {}) {
  return {
    userContext: {
      id: userId,
      name: 'Jenny Rosen',
      account: { country: 'US', id: accountId, name: 'Rocket Rides', isSandbox: false },
      locale: 'en-US',
      roles: roles ?? [{ id: 'admin', name: 'Administrator', type: 'builtIn' }],
    },
    environment: { mode, viewportID: 'stripe.dashboard.customer.detail', objectContext: null },
    appContext: {},
  };
}

/** A fetchSignature that records every call (arguments included) and answers sig_1, sig_2, … */
export function recordingSigner() {
  const calls = [];
  const fn = async function (...args) {
    calls.push(args);
    return `t=1,v1=sig_${calls.length}`;
  };
  fn.calls = calls;
  return fn;
}

/** A JSON answer. */
export function json(status, body, headers = {}) {
  return { status, body: typeof body === 'string' ? body : JSON.stringify(body), headers };
}

/**
 * A fetch that records each request and answers from answers (a list, or a function of
 * the request); an answer that is an Error is thrown (a network failure).
 */
export function fakeFetch(answers) {
  const requests = [];
  const fn = async (url, init) => {
    const req = { url: new URL(url), init };
    requests.push(req);
    const a = typeof answers === 'function' ? await answers(req, requests.length - 1) : answers[requests.length - 1];
    if (a === undefined) throw new Error(`unexpected request ${init.method} ${url}`);
    if (a instanceof Error) throw a;
    const headers = new Map(Object.entries(a.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    return {
      status: a.status,
      ok: a.status >= 200 && a.status < 300,
      headers: { get: (n) => headers.get(n.toLowerCase()) ?? null },
      text: async () => a.body ?? '',
    };
  };
  fn.requests = requests;
  return fn;
}

/** A job status as GET /api/jobs/{id} answers it. */
export function jobStatus(id, state, extra = {}) {
  return {
    id,
    kind: 'quickstart.export',
    queue: 'default',
    state,
    attempts: 1,
    max_attempts: 8,
    account_id: 'acct_1JSkf6FRwUQjTSJE',
    created_at: '2026-01-01T00:00:00Z',
    scheduled_at: '2026-01-01T00:00:00Z',
    attempted_at: null,
    finalized_at: null,
    errors: [],
    output: null,
    ...extra,
  };
}
