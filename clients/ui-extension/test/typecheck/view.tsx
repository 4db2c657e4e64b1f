// A UI-extension view written against @stripe/ui-extension-sdk's real types, compiled by
// test/typecheck.test.mjs with Stripe's preset (moduleResolution node) and with bundler.
import { Box, Button, ContextView, Inline } from '@stripe/ui-extension-sdk/ui';
import type { ExtensionContextValue } from '@stripe/ui-extension-sdk/context';
import { fetchStripeSignature } from '@stripe/ui-extension-sdk/utils';
import { useState } from 'react';

import { BackendError, createBackend, isBackendError } from '@appbackend/ui-extension';
import type { Backend, BackendOptions, Installation, JobStatus, RestrictedKeyStatus } from '@appbackend/ui-extension';
import { useBackend, useJob } from '@appbackend/ui-extension/react';

const BACKEND_URL = 'https://backend.example.com';

type ExportOutput = { available: Record<string, number>; pending: Record<string, number>; livemode: boolean };

// The SDK's own fetchStripeSignature and globalThis.fetch fit the options as they are.
export function plain(context: ExtensionContextValue): Backend {
  const options: BackendOptions = { baseUrl: BACKEND_URL, context, fetchSignature: fetchStripeSignature, fetch: globalThis.fetch };
  return createBackend(options);
}

export async function calls(backend: Backend): Promise<void> {
  const done: { success: boolean } = await backend.post<{ success: boolean }>('/api/do_more_secret_stuff', {
    payload: { transaction_id: 'ipi_1', amount: 100, nested: { list: [1, 'a', null] } },
  });
  void done;
  await backend.post('/api/invoices/in_1/tags', { payload: { tag: 'vip' }, signRoles: true, livemode: null });
  await backend.get('/api/items', { query: { limit: 10, expand: 'x' } });
  await backend.del('/api/items/1');
  await backend.request('PATCH', '/api/items/1', { payload: { name: 'x' } });
  const inst: Installation = await backend.installation();
  // GET /api/installation's permission fields, typed: a view can tell the merchant what to approve.
  const pending: string[] = inst.live?.permissions_pending ?? [];
  const granted: string[] = inst.test?.permissions_granted ?? [];
  const mustApprove: boolean = inst.live?.approval_required ?? false;
  const installId: string | null | undefined = inst.live?.install_id;
  const names: (string | null)[] = [inst.live?.display_name ?? null, inst.test?.application_id ?? null, inst.live?.last_event_id ?? null];
  void [pending, granted, mustApprove, installId, names];
  // @ts-expect-error permissions_pending is a list of permission names, not one
  const onePending: string | undefined = inst.live?.permissions_pending;
  void onePending;
  const saved: RestrictedKeyStatus = await backend.saveRestrictedKey('rk_test_pasted', { livemode: false });
  const last4: string | undefined = (await backend.restrictedKey()).restricted_key?.last4 ?? saved.restricted_key?.status;
  void last4;
  const status: JobStatus<ExportOutput> = await backend.job<ExportOutput>(12);
  const out: ExportOutput | null = await backend.waitForJob<ExportOutput>(status.id, {
    intervalMs: 500,
    timeoutMs: 60_000,
    signal: new AbortController().signal,
    onUpdate: (s) => console.log(s.state, s.attempts),
  });
  void inst;
  void out;
  try {
    await backend.post('/api/data');
  } catch (err) {
    if (isBackendError(err, 'mode_required')) console.log(err.status, err.message);
    if (err instanceof BackendError) console.log(err.code, err.requestId);
  }
  // @ts-expect-error a payload is JSON: a Date is not
  await backend.post('/api/x', { payload: { at: new Date() } });
  // @ts-expect-error a GET has no payload
  await backend.get('/api/x', { payload: { a: 1 } });
}

const ExportView = (context: ExtensionContextValue) => {
  const backend = useBackend(context, { baseUrl: BACKEND_URL });
  const [jobId, setJobId] = useState<number | null>(null);
  const job = useJob<ExportOutput>(backend, jobId, { intervalMs: 1000 });
  const [error, setError] = useState<string | null>(null);

  const start = async () => {
    try {
      const { job_id } = await backend.post<{ job_id: number }>('/api/export');
      setJobId(job_id);
    } catch (err) {
      setError(err instanceof BackendError ? `${err.code}: ${err.message}` : String(err));
    }
  };

  return (
    <ContextView title="Export">
      <Inline>{job.status ? `${job.status.state} (attempt ${job.status.attempts})` : 'not started'}</Inline>
      {job.output && <Box>{Object.keys(job.output.available).join(', ')}</Box>}
      {(error || job.error) && <Box>{error ?? job.error?.message}</Box>}
      <Button type="primary" disabled={jobId !== null && !job.done} onPress={start}>
        Export
      </Button>
    </ContextView>
  );
};

export default ExportView;
