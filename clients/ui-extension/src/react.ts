// @appbackend/ui-extension/react: the hooks, in their own entry point so that non-React
// users do not import React.
import { useEffect, useMemo, useRef, useState } from 'react';

import { createBackend } from './backend.js';
import { BackendError } from './errors.js';
import type {
  Backend,
  BackendContext,
  BackendOptions,
  FetchInit,
  JobId,
  JobStatus,
  JSONObject,
  JSONValue,
  WaitForJobOptions,
} from './types.js';

/** useBackend's options: createBackend's without the context. */
export type UseBackendOptions = Omit<BackendOptions, 'context'>;

/**
 * useBackend returns a Backend for the view's context, the same object across renders
 * until the user, account, mode, roles, baseUrl or livemode changes.
 */
export function useBackend(context: BackendContext, options: UseBackendOptions): Backend {
  const { baseUrl, fetchSignature, fetch, livemode } = options;
  // The functions are called through a ref: an inline fetch or fetchSignature (a new
  // function each render) keeps the Backend, and the latest one is used.
  const fns = useRef({ fetchSignature, fetch });
  fns.current = { fetchSignature, fetch };
  const hasSigner = fetchSignature !== undefined;
  const hasFetch = fetch !== undefined;
  const userId = context.userContext.id;
  const accountId = context.userContext.account?.id;
  const mode = context.environment.mode;
  const roles = JSON.stringify(context.userContext.roles ?? null);
  return useMemo(
    () =>
      createBackend({
        baseUrl,
        context,
        livemode,
        fetchSignature: hasSigner
          ? (payload?: JSONObject) => (payload === undefined ? fns.current.fetchSignature!() : fns.current.fetchSignature!(payload))
          : undefined,
        fetch: hasFetch ? (url: string, init: FetchInit) => fns.current.fetch!(url, init) : undefined,
      }),
    // context is read through the values below: a new object with the same ones keeps the Backend.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [baseUrl, livemode, hasSigner, hasFetch, userId, accountId, mode, roles],
  );
}

/** useJob's state. */
export interface UseJobResult<Output = JSONValue> {
  /** The last status polled; null before the first. */
  status: JobStatus<Output> | null;
  /** The job's output once it completed. */
  output: Output | null;
  /** job_failed, job_cancelled, job_timeout or the error that stopped the polling. */
  error: BackendError | null;
  /** True once the job is finalized or polling stopped with an error. */
  done: boolean;
}

/** useJob's options: waitForJob's, without signal and onUpdate (the hook owns them). */
export type UseJobOptions = Omit<WaitForJobOptions, 'signal' | 'onUpdate'>;

const idle: UseJobResult<never> = { status: null, output: null, error: null, done: false };

/**
 * useJob polls a job (backend.waitForJob) while the component is mounted and id is set,
 * re-rendering with each status; the polling stops on unmount (the job goes on).
 */
export function useJob<Output = JSONValue>(
  backend: Backend,
  id: JobId | null | undefined,
  options: UseJobOptions = {},
): UseJobResult<Output> {
  const [state, setState] = useState<UseJobResult<Output>>(idle);
  const optionsRef = useRef(options);
  optionsRef.current = options;
  useEffect(() => {
    setState(idle);
    if (id === null || id === undefined || id === '') return undefined;
    const controller = new AbortController();
    backend
      .waitForJob<Output>(id, {
        ...optionsRef.current,
        signal: controller.signal,
        onUpdate: (status) => {
          if (!controller.signal.aborted) setState((s) => ({ ...s, status }));
        },
      })
      .then(
        (output) => {
          if (!controller.signal.aborted) setState((s) => ({ ...s, output, done: true }));
        },
        (err: unknown) => {
          if (controller.signal.aborted) return;
          const error = err instanceof BackendError ? err : new BackendError('internal', String(err), { cause: err });
          setState((s) => ({ ...s, error, done: true }));
        },
      );
    return () => controller.abort();
  }, [backend, id]);
  return state;
}
