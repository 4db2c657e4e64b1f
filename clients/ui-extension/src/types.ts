// The types the client speaks. They are structural on purpose: the SDK's own
// ExtensionContextValue, fetchStripeSignature and globalThis.fetch fit them as they are,
// and Node users (tests, scripts) can pass plain objects without installing the SDK.

/** A JSON value, as JSON.stringify writes it and Stripe signs it. */
export type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

/** A JSON object: an additional payload to sign (fetchStripeSignature's NestableJSONValue). */
export type JSONObject = { [key: string]: JSONValue };

/** A Dashboard role as userContext.roles lists it (the SDK's RoleDefinition). */
export interface RoleDefinition {
  id?: string;
  name: string;
  type: 'builtIn' | 'custom';
}

/**
 * The part of the SDK's ExtensionContextValue the client reads: who is signed in
 * (userContext.id, userContext.account.id, userContext.roles) and the Dashboard's mode
 * (environment.mode). Pass the context your view receives as it is.
 */
export interface BackendContext {
  userContext: {
    id?: string;
    account: { id: string };
    roles?: RoleDefinition[];
  };
  environment: {
    mode: 'live' | 'test';
  };
}

/**
 * Returns a Stripe-Signature header value for the signed-in user and account, signed
 * over the default `{user_id, account_id}` when called without a payload, or over
 * `JSON.stringify({...payload, user_id, account_id})`. The SDK's fetchStripeSignature.
 */
export type FetchSignature = (payload?: JSONObject) => Promise<string>;

/** What the client passes to fetch. */
export interface FetchInit {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** What the client reads from fetch's answer (a subset of the Fetch API's Response). */
export interface FetchResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** A fetch function: globalThis.fetch fits. */
export type FetchFunction = (url: string, init: FetchInit) => Promise<FetchResponse>;

/** createBackend's options. */
export interface BackendOptions {
  /** Where appbackend listens, e.g. `https://backend.example.com` (paths are appended). */
  baseUrl: string;
  /** The ExtensionContextValue the SDK hands the view (userContext, environment). */
  context: BackendContext;
  /** Defaults to the SDK's fetchStripeSignature (`@stripe/ui-extension-sdk/utils`). */
  fetchSignature?: FetchSignature;
  /** Defaults to globalThis.fetch. */
  fetch?: FetchFunction;
  /**
   * The livemode signed with every request: by default `environment.mode === 'live'`;
   * `true`/`false` to force one; `null` to sign none (appbackend then picks the mode from
   * the installation, or answers `mode_required`). POST, PUT and PATCH sign it in the
   * payload; GET and DELETE sign `fetchStripeSignature({livemode})` and send
   * `?livemode=…&user_id=…&account_id=…`.
   */
  livemode?: boolean | null;
}

/** Options of any request. */
export interface RequestOptions {
  /**
   * The additional payload (POST, PUT, PATCH): signed, and sent as the body together
   * with livemode, stripe_roles, user_id and account_id.
   */
  payload?: JSONObject;
  /** Sign `stripe_roles: userContext.roles` too, so that appauth.RequireRole can see them. */
  signRoles?: boolean;
  /** This request's livemode, overriding createBackend's (see BackendOptions.livemode). */
  livemode?: boolean | null;
  /**
   * Query parameters (any method); GET and DELETE add livemode (signed), user_id and
   * account_id, and refuse a livemode of their own here (pass `livemode` instead).
   */
  query?: Record<string, string | number | boolean | undefined>;
  /** Extra headers (Stripe-Signature and Content-Type are the client's). */
  headers?: Record<string, string>;
  /** Aborts the request (rejects with a BackendError whose code is `aborted`). */
  signal?: AbortSignal;
}

/** Options of post(). */
export type PostOptions = Pick<RequestOptions, 'payload' | 'signRoles' | 'livemode' | 'query' | 'headers' | 'signal'>;

/** Options of get() and del(). */
export type GetOptions = Pick<RequestOptions, 'livemode' | 'query' | 'headers' | 'signal'>;

/** One failed attempt of a job. */
export interface JobError {
  attempt: number;
  at: string;
  error: string;
}

/** A job's state (River's). */
export type JobState =
  | 'available'
  | 'scheduled'
  | 'running'
  | 'retryable'
  | 'completed'
  | 'cancelled'
  | 'discarded'
  | 'pending';

/** A job as `GET /api/jobs/{id}` shows it (appbackend.JobStatus). */
export interface JobStatus<Output = JSONValue> {
  id: number;
  kind: string;
  queue: string;
  state: JobState;
  attempts: number;
  max_attempts: number;
  account_id: string | null;
  created_at: string;
  scheduled_at: string;
  attempted_at: string | null;
  finalized_at: string | null;
  errors: JobError[];
  output: Output | null;
}

/** waitForJob's options. */
export interface WaitForJobOptions<Output = JSONValue> {
  /** The first pause between two polls, in ms (default 500); it grows by half each time. */
  intervalMs?: number;
  /** The longest pause between two polls, in ms (default 5000). */
  maxIntervalMs?: number;
  /** Give up after this many ms (default 300000) with a BackendError `job_timeout`. */
  timeoutMs?: number;
  /** Stops waiting (rejects with a BackendError `aborted`); the job goes on. */
  signal?: AbortSignal;
  /** Called with every status polled, the last one included. */
  onUpdate?: (status: JobStatus<Output>) => void;
}

/**
 * One mode's installation, as `appbackend installations --json` shows it (the Go
 * library's appbackend.Installation). Times are RFC 3339.
 */
export interface InstallationMode {
  account_id: string;
  livemode: boolean;
  /** `reauthorization_required`: Stripe refused the OAuth refresh token; the merchant must install again. */
  status: 'installed' | 'uninstalled' | 'reauthorization_required' | (string & {});
  installed_at: string | null;
  uninstalled_at: string | null;
  /** The `ca_…` application, when the install event carried it. */
  application_id: string | null;
  /** The account's name, once the backend looked it up. */
  display_name: string | null;
  /** Stripe's `appinst_…` install, once an Install object was seen (null before). */
  install_id: string | null;
  /** The permissions the merchant approved; [] until an Install object was seen. */
  permissions_granted: string[];
  /**
   * The permissions the app's latest version asks for and the merchant has not approved
   * yet: calls needing them fail until the merchant approves them in the Dashboard.
   */
  permissions_pending: string[];
  /** Stripe's approval_required: the merchant must approve pending access. */
  approval_required: boolean;
  /** The lifecycle event that set this state. */
  last_event_id: string;
  updated_at: string;
  [key: string]: JSONValue | undefined;
}

/** `GET /api/installation`: the caller's account's installation in each mode, null if never installed. */
export interface Installation {
  account_id: string;
  live: InstallationMode | null;
  test: InstallationMode | null;
}

/** The stored restricted key of the caller's account in one mode: never the key, its last 4 characters at most. */
export interface RestrictedKeyInfo {
  last4: string;
  /** `reauthorization_required` once Stripe rejected it: the merchant must paste a new one. */
  status: 'active' | 'reauthorization_required' | (string & {});
  /** The user who pasted it. */
  user_id: string;
}

/** `POST` and `GET /api/appbackend/restricted-key`: the caller's account's key in the request's mode, null if none. */
export interface RestrictedKeyStatus {
  account_id: string;
  livemode: boolean;
  restricted_key: RestrictedKeyInfo | null;
}

/** Options of saveRestrictedKey: the mode (default: environment.mode) and a signal. */
export interface SaveRestrictedKeyOptions {
  livemode?: boolean | null;
  signal?: AbortSignal;
}

/** A job id as the backend answers it (a number) or as a route param (a string). */
export type JobId = number | string;

/** The client createBackend returns. */
export interface Backend {
  /** The options it was created with. */
  readonly options: Readonly<BackendOptions>;
  /** A signed POST of `payload` (see RequestOptions); resolves to the parsed JSON answer. */
  post<T = unknown>(path: string, options?: PostOptions): Promise<T>;
  /** A signed GET: livemode and the ids go in the query string, signed as `{livemode, user_id, account_id}`. */
  get<T = unknown>(path: string, options?: GetOptions): Promise<T>;
  /** A signed DELETE: livemode and the ids go in the query string, like get(). */
  del<T = unknown>(path: string, options?: GetOptions): Promise<T>;
  /** Any method: POST, PUT and PATCH sign a payload and send a body; others do not. */
  request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<T>;
  /** The status of a job the caller's account enqueued (`GET /api/jobs/{id}`). */
  job<Output = JSONValue>(id: JobId, options?: GetOptions): Promise<JobStatus<Output>>;
  /**
   * Polls the job with back-off until it is finalized: resolves to its output once it
   * completed, rejects with a BackendError `job_failed` (discarded) or `job_cancelled`.
   */
  waitForJob<Output = JSONValue>(id: JobId, options?: WaitForJobOptions<Output>): Promise<Output | null>;
  /** The caller's account's installation in each mode (`GET /api/installation`). */
  installation(options?: GetOptions): Promise<Installation>;
  /**
   * For a restricted-key app (`stripe_api_access_type: "restricted_api_key"`): sends the
   * rk_live_…/rk_test_… key the merchant pasted in the settings view, signed, to
   * `POST /api/appbackend/restricted-key`. The backend checks it with Stripe for the
   * signed account and mode and stores it sealed; from then on the app calls Stripe with
   * it. Anything that is not a restricted key (a pasted sk_… secret key above all) is
   * refused here with a BackendError `bad_request`, before it leaves the view.
   */
  saveRestrictedKey(key: string, options?: SaveRestrictedKeyOptions): Promise<RestrictedKeyStatus>;
  /** Which restricted key is stored for the caller's account in the mode (`GET /api/appbackend/restricted-key`). */
  restrictedKey(options?: GetOptions): Promise<RestrictedKeyStatus>;
}
