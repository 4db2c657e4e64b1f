// The React entry: useBackend memoises, useJob follows a job and stops on unmount.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createElement } from 'react';
import TestRenderer from 'react-test-renderer';

import { useBackend, useJob } from '../dist/react.js';
import { context, fakeFetch, jobStatus, json, recordingSigner } from './helpers.mjs';

globalThis.IS_REACT_ACT_ENVIRONMENT = true;
const { act } = TestRenderer;

describe('useBackend', () => {
  it('returns the same Backend until the user, account, mode or an option changes', async () => {
    const fetchSignature = recordingSigner();
    const seen = [];
    function View({ ctx, baseUrl }) {
      seen.push(useBackend(ctx, { baseUrl, fetchSignature }));
      return null;
    }
    let r;
    await act(async () => {
      r = TestRenderer.create(createElement(View, { ctx: context(), baseUrl: 'http://a' }));
    });
    await act(async () => r.update(createElement(View, { ctx: context(), baseUrl: 'http://a' })));
    assert.equal(seen[1], seen[0], 'an equal context keeps the Backend');
    await act(async () => r.update(createElement(View, { ctx: context({ mode: 'live' }), baseUrl: 'http://a' })));
    assert.notEqual(seen[2], seen[1], 'another mode makes a new one');
    await act(async () => r.update(createElement(View, { ctx: context({ mode: 'live' }), baseUrl: 'http://b' })));
    assert.notEqual(seen[3], seen[2], 'another baseUrl makes a new one');
    assert.equal(seen[3].options.baseUrl, 'http://b');
    assert.equal(seen[3].options.context.environment.mode, 'live');
    await act(async () => r.unmount());
  });
});

describe('useJob', () => {
  it('renders each status, then the output', async () => {
    const fetch = fakeFetch((req, i) =>
      json(200, i < 2 ? jobStatus(9, i === 0 ? 'available' : 'running') : jobStatus(9, 'completed', { output: { n: 1 } })),
    );
    const states = [];
    let done;
    const finished = new Promise((resolve) => (done = resolve));
    function View({ id }) {
      // A new context object and signer each render: the Backend (and the polling) stays.
      const backend = useBackend(context(), { baseUrl: 'http://a', fetch, fetchSignature: recordingSigner() });
      const job = useJob(backend, id, { intervalMs: 5 });
      states.push(`${job.status?.state ?? '-'}/${JSON.stringify(job.output)}/${job.done}`);
      if (job.done) done(job);
      return null;
    }
    let r;
    await act(async () => {
      r = TestRenderer.create(createElement(View, { id: 9 }));
    });
    let job;
    await act(async () => {
      job = await finished;
    });
    assert.deepEqual(job.output, { n: 1 });
    assert.equal(job.error, null);
    assert.ok(states.includes('running/null/false'), states.join(' '));
    assert.equal(states.at(-1), 'completed/{"n":1}/true');
    await act(async () => r.unmount());
  });

  it('reports a failed job as error, does nothing without an id, and stops polling on unmount', async () => {
    const failing = fakeFetch(() => json(200, jobStatus(2, 'discarded', { errors: [{ attempt: 1, at: 'a', error: 'nope' }] })));
    let result;
    function View({ id, fetch }) {
      const backend = useBackend(context(), { baseUrl: 'http://a', fetch, fetchSignature: recordingSigner() });
      result = useJob(backend, id);
      return null;
    }
    let r;
    await act(async () => {
      r = TestRenderer.create(createElement(View, { id: null, fetch: failing }));
    });
    assert.equal(failing.requests.length, 0);
    assert.deepEqual(result, { status: null, output: null, error: null, done: false });
    await act(async () => r.update(createElement(View, { id: 2, fetch: failing })));
    await act(async () => new Promise((res) => setTimeout(res, 10)));
    assert.equal(result.error?.code, 'job_failed');
    assert.equal(result.error?.message, 'nope');
    assert.equal(result.done, true);
    await act(async () => r.unmount());

    const running = fakeFetch(() => json(200, jobStatus(3, 'running')));
    await act(async () => {
      r = TestRenderer.create(createElement(View, { id: 3, fetch: running }));
    });
    await act(async () => r.unmount());
    const n = running.requests.length;
    await new Promise((res) => setTimeout(res, 30));
    assert.equal(running.requests.length, n, 'no poll after unmount');
  });
});
