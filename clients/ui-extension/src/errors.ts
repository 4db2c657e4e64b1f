// BackendError: every failure the client reports, typed by code.

/**
 * The codes appbackend answers (`{"error":{"code","message"}}`), and the client's own:
 * `network_error` (no answer), `aborted` (the signal fired), `invalid_response` (not
 * appbackend's JSON), `signature_unavailable` (fetchSignature failed), `invalid_context`
 * (the context lacks the user or account id), `job_failed`, `job_cancelled`, `job_timeout`.
 * A string: an app's handler may answer codes of its own.
 */
export type BackendErrorCode =
  | 'signature_missing'
  | 'signature_invalid'
  | 'signature_expired'
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'role_required'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'body_too_large'
  | 'unprocessable'
  | 'mode_required'
  | 'card_error'
  | 'rate_limited'
  | 'internal'
  | 'stripe_error'
  | 'upstream_unavailable'
  | 'unavailable'
  | 'upstream_timeout'
  | 'network_error'
  | 'aborted'
  | 'invalid_response'
  | 'signature_unavailable'
  | 'invalid_context'
  | 'job_failed'
  | 'job_cancelled'
  | 'job_timeout'
  | (string & {});

/** What BackendError's constructor takes besides code and message. */
export interface BackendErrorInit {
  /** The HTTP status; 0 when there was no answer (network_error, aborted, …). */
  status?: number;
  /** The answer's X-Request-Id, to find the request in the backend's log. */
  requestId?: string | null;
  /** The job, for job_failed and job_cancelled. */
  job?: unknown;
  /** The app's reason beside the code (`{"error":{…,"reason"}}`), if it gave one. */
  reason?: string;
  cause?: unknown;
}

/** A failed call: appbackend's error code and message, the HTTP status (0 if none). */
export class BackendError extends Error {
  readonly code: BackendErrorCode;
  readonly status: number;
  readonly requestId: string | null;
  /** The job's last status, for job_failed and job_cancelled. */
  readonly job: unknown;
  /**
   * The app-defined reason that refines code (`"refund_limit"` under `forbidden`, say):
   * what the backend's `NewError(…).WithReason(…)` answered, else undefined.
   */
  readonly reason: string | undefined;

  constructor(code: BackendErrorCode, message: string, init: BackendErrorInit = {}) {
    super(message);
    this.name = 'BackendError';
    this.code = code;
    this.status = init.status ?? 0;
    this.requestId = init.requestId ?? null;
    this.job = init.job;
    this.reason = init.reason;
    if (init.cause !== undefined) {
      Object.defineProperty(this, 'cause', { value: init.cause, configurable: true, writable: true });
    }
  }
}

/** Whether err is a BackendError (with that code, if given). */
export function isBackendError(err: unknown, code?: BackendErrorCode): err is BackendError {
  return err instanceof BackendError && (code === undefined || err.code === code);
}
