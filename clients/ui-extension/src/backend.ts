// createBackend: signed calls from a UI extension to appbackend.

import { BackendError } from './errors.js';
import type {
  Backend,
  BackendOptions,
  FetchFunction,
  FetchInit,
  FetchSignature,
  GetOptions,
  Installation,
  JobId,
  JobStatus,
  JSONObject,
  JSONValue,
  PostOptions,
  RequestOptions,
  RestrictedKeyStatus,
  SaveRestrictedKeyOptions,
  WaitForJobOptions,
} from './types.js';

/** The built-in route of restricted-key apps. */
export const RESTRICTED_KEY_PATH = '/api/appbackend/restricted-key';

const RESTRICTED_KEY = /^rk_(live|test)_[A-Za-z0-9]{8,255}$/;

// checkRestrictedKey refuses, without echoing it, what is not a restricted key: a secret
// key pasted by mistake must not even reach fetchStripeSignature.
function checkRestrictedKey(key: unknown): string {
  if (typeof key !== 'string' || key.trim() === '') {
    throw new BackendError('bad_request', 'paste the restricted key (rk_live_… or rk_test_…) Stripe showed in the app\'s settings');
  }
  const k = key.trim();
  if (k.startsWith('sk_')) {
    throw new BackendError('bad_request', "this is a secret key (sk_…), not the app's restricted key: paste the rk_live_… or rk_test_… key Stripe showed in the app's settings, and roll the secret key if it was shared");
  }
  if (k.startsWith('pk_')) {
    throw new BackendError('bad_request', "this is a publishable key (pk_…), not the app's restricted key: paste the rk_live_… or rk_test_… key Stripe showed in the app's settings");
  }
  if (!RESTRICTED_KEY.test(k)) {
    throw new BackendError('bad_request', "this does not look like a restricted key: paste the whole rk_live_… or rk_test_… key Stripe showed in the app's settings");
  }
  return k;
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

let sdkSignature: Promise<FetchSignature> | undefined;

// The SDK's fetchStripeSignature, imported only when a request needs it, so that the
// package imports in Node (and in tests) without the SDK. Bundlers include it in the
// view's bundle all the same (webpackMode "eager"; esbuild inlines it when not splitting).
function sdkFetchSignature(): Promise<FetchSignature> {
  if (!sdkSignature) {
    sdkSignature = import(/* webpackMode: "eager" */ '@stripe/ui-extension-sdk/utils').then(
      (mod) => mod.fetchStripeSignature as FetchSignature,
      (err: unknown) => {
        sdkSignature = undefined;
        throw err;
      },
    );
  }
  return sdkSignature;
}

/**
 * createBackend returns the client a UI extension calls appbackend with: each request
 * gets its own signature from fetchStripeSignature and sends exactly what Stripe signed.
 */
export function createBackend(options: BackendOptions): Backend {
  if (!options || typeof options.baseUrl !== 'string' || options.baseUrl === '') {
    throw new TypeError('createBackend: baseUrl is required');
  }
  if (!options.context || !options.context.userContext || !options.context.environment) {
    throw new TypeError('createBackend: context (the ExtensionContextValue of the view) is required');
  }
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const opts: Readonly<BackendOptions> = Object.freeze({ ...options });

  const getFetch = (): FetchFunction => {
    const f = opts.fetch ?? (globalThis.fetch as unknown as FetchFunction | undefined);
    if (typeof f !== 'function') {
      throw new BackendError('network_error', 'no fetch function: pass createBackend({ fetch })');
    }
    return f;
  };

  const sign = async (payload: JSONObject | undefined, signal: AbortSignal | undefined): Promise<string> => {
    try {
      const fetchSignature = opts.fetchSignature ?? (await sdkFetchSignature());
      return payload === undefined ? await fetchSignature() : await fetchSignature(payload);
    } catch (err) {
      if (signal?.aborted) throw aborted(signal);
      throw new BackendError('signature_unavailable', `could not get a Stripe signature: ${messageOf(err)}`, { cause: err });
    }
  };

  async function request<T = unknown>(method: string, path: string, ro: RequestOptions = {}): Promise<T> {
    const m = method.toUpperCase();
    const { userContext, environment } = opts.context;
    const user_id = userContext.id;
    const account_id = userContext.account?.id;
    if (!user_id || !account_id) {
      throw new BackendError('invalid_context', 'the context has no userContext.id or userContext.account.id');
    }
    const hasBody = BODY_METHODS.has(m);
    const livemode = ro.livemode !== undefined ? ro.livemode : opts.livemode !== undefined ? opts.livemode : environment.mode === 'live';

    // What is signed: the payload, then livemode, then stripe_roles (POST, PUT, PATCH);
    // without a body only livemode can be: fetchStripeSignature({livemode}), and the
    // same livemode goes in the query, where appbackend rebuilds the signed string
    // {"livemode":…,"user_id":…,"account_id":…} from it.
    let signed: JSONObject | undefined;
    if (hasBody) {
      const s: JSONObject = { ...(ro.payload ?? {}) };
      if (livemode !== null && !Object.prototype.hasOwnProperty.call(s, 'livemode')) s.livemode = livemode;
      if (ro.signRoles) s.stripe_roles = (userContext.roles ?? []).map((r) => ({ ...r }) as JSONObject);
      if (Object.keys(s).length > 0) signed = s;
    } else if (ro.payload !== undefined || ro.signRoles) {
      throw new BackendError('bad_request', `${m} carries no body: sign a payload with POST, PUT or PATCH`);
    } else if (livemode !== null) {
      signed = { livemode };
    }

    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(ro.query ?? {})) if (v !== undefined) query[k] = String(v);
    if (!hasBody) {
      if (Object.prototype.hasOwnProperty.call(query, 'livemode')) {
        throw new BackendError('bad_request', `${m}: livemode in the query must be signed: pass { livemode } instead of query.livemode`);
      }
      if (livemode !== null) query.livemode = String(livemode);
      query.user_id = user_id;
      query.account_id = account_id;
    }
    const url = joinUrl(baseUrl, path, query);
    // Exactly the string Stripe signs: the payload's keys, then user_id, then account_id.
    const body = hasBody ? JSON.stringify({ ...(signed ?? {}), user_id, account_id }) : undefined;

    const once = async (): Promise<T> => {
      if (ro.signal?.aborted) throw aborted(ro.signal);
      const signature = await sign(signed, ro.signal);
      const headers: Record<string, string> = { ...(ro.headers ?? {}), 'Stripe-Signature': signature };
      if (hasBody) headers['Content-Type'] = 'application/json';
      const init: FetchInit = { method: m, headers };
      if (body !== undefined) init.body = body;
      if (ro.signal) init.signal = ro.signal;
      return send<T>(getFetch(), url, init, ro.signal);
    };

    try {
      return await once();
    } catch (err) {
      // The signature aged on the way (a slow network, a laptop waking up): one more try
      // with a fresh one.
      if (err instanceof BackendError && err.code === 'signature_expired') return once();
      throw err;
    }
  }

  const backend: Backend = {
    options: opts,
    request,
    post: <T = unknown>(path: string, o: PostOptions = {}) => request<T>('POST', path, o),
    get: <T = unknown>(path: string, o: GetOptions = {}) => request<T>('GET', path, o),
    del: <T = unknown>(path: string, o: GetOptions = {}) => request<T>('DELETE', path, o),
    job: <Output = JSONValue>(id: JobId, o: GetOptions = {}) =>
      request<JobStatus<Output>>('GET', `/api/jobs/${encodeURIComponent(String(id))}`, o),
    installation: (o: GetOptions = {}) => request<Installation>('GET', '/api/installation', o),
    saveRestrictedKey: async (key: string, o: SaveRestrictedKeyOptions = {}) => {
      const restricted_key = checkRestrictedKey(key);
      // The key is signed with the request, so that a signature cannot carry another key.
      return request<RestrictedKeyStatus>('POST', RESTRICTED_KEY_PATH, { payload: { restricted_key }, livemode: o.livemode, signal: o.signal });
    },
    restrictedKey: (o: GetOptions = {}) => request<RestrictedKeyStatus>('GET', RESTRICTED_KEY_PATH, o),
    waitForJob: <Output = JSONValue>(id: JobId, o: WaitForJobOptions<Output> = {}) => waitForJob<Output>(backend, id, o),
  };
  return backend;
}

async function waitForJob<Output>(backend: Backend, id: JobId, o: WaitForJobOptions<Output>): Promise<Output | null> {
  const maxInterval = Math.max(1, o.maxIntervalMs ?? 5000);
  let interval = Math.min(Math.max(1, o.intervalMs ?? 500), maxInterval);
  const timeout = o.timeoutMs ?? 300_000;
  const deadline = Date.now() + timeout;
  const getOpts: GetOptions = o.signal ? { signal: o.signal } : {};
  for (;;) {
    let status: JobStatus<Output> | undefined;
    try {
      status = await backend.job<Output>(id, getOpts);
    } catch (err) {
      // An outage between two polls is waited out; anything else (not_found, …) is final.
      if (!(err instanceof BackendError && transient(err))) throw err;
    }
    if (status) {
      o.onUpdate?.(status);
      switch (status.state) {
        case 'completed':
          return status.output ?? null;
        case 'discarded': {
          const last = status.errors[status.errors.length - 1];
          throw new BackendError('job_failed', last ? last.error : `job ${status.id} failed`, { job: status });
        }
        case 'cancelled':
          throw new BackendError('job_cancelled', `job ${status.id} was cancelled`, { job: status });
      }
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new BackendError('job_timeout', `job ${String(id)} did not finish within ${timeout} ms`, { job: status });
    }
    await sleep(Math.min(interval, left), o.signal);
    interval = Math.min(Math.round(interval * 1.5), maxInterval);
  }
}

function transient(err: BackendError): boolean {
  return err.code === 'network_error' || err.code === 'rate_limited' || err.status === 502 || err.status === 503 || err.status === 504;
}

async function send<T>(fetchFn: FetchFunction, url: string, init: FetchInit, signal: AbortSignal | undefined): Promise<T> {
  let status: number;
  let requestId: string | null = null;
  let text: string;
  try {
    const res = await fetchFn(url, init);
    status = res.status;
    requestId = res.headers?.get('X-Request-Id') ?? null;
    text = await res.text();
  } catch (err) {
    if (signal?.aborted) throw aborted(signal);
    throw new BackendError('network_error', `${init.method} ${url}: ${messageOf(err)}`, { cause: err });
  }
  let parsed: unknown = null;
  let parseError: unknown;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      parseError = err;
    }
  }
  if (status >= 200 && status < 300) {
    if (parseError !== undefined) {
      throw new BackendError('invalid_response', `${init.method} ${url}: the answer is not JSON`, { status, requestId, cause: parseError });
    }
    return parsed as T;
  }
  const e = (parsed as { error?: { code?: unknown; message?: unknown; reason?: unknown } } | null)?.error;
  if (e && typeof e.code === 'string') {
    const reason = typeof e.reason === 'string' ? e.reason : undefined;
    return Promise.reject(new BackendError(e.code, typeof e.message === 'string' ? e.message : e.code, { status, requestId, reason }));
  }
  throw new BackendError('invalid_response', `${init.method} ${url}: HTTP ${status} without appbackend's error JSON`, { status, requestId });
}

function joinUrl(base: string, path: string, query: Record<string, string>): string {
  let url = base + (path.startsWith('/') ? path : `/${path}`);
  const qs = new URLSearchParams(query).toString();
  if (qs) url += (url.includes('?') ? '&' : '?') + qs;
  return url;
}

function aborted(signal: AbortSignal): BackendError {
  return new BackendError('aborted', 'the request was aborted', { cause: signal.reason });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function messageOf(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message && cause.message !== err.message ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}
