// Type-check tests: a view written against @stripe/ui-extension-sdk's real types compiles
// with Stripe's own UI-extension preset (@stripe/ui-extension-tools: moduleResolution
// node, so the React entry resolves through typesVersions) and with moduleResolution
// bundler (through exports); and dist's declarations stand alone (no SDK, no React).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

const run = promisify(execFile);
const PKG = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(PKG, 'node_modules', 'typescript', 'bin', 'tsc');
let dir;

before(() => {
  // Inside the package, so that the SDK, React's types and the preset resolve from its
  // node_modules; the package itself through node_modules/@appbackend/ui-extension.
  mkdirSync(join(PKG, '.tmp'), { recursive: true });
  dir = mkdtempSync(join(PKG, '.tmp', 'typecheck-'));
  mkdirSync(join(dir, 'node_modules', '@appbackend'), { recursive: true });
  symlinkSync(PKG, join(dir, 'node_modules', '@appbackend', 'ui-extension'), 'dir');
  copyFileSync(join(PKG, 'test', 'typecheck', 'view.tsx'), join(dir, 'view.tsx'));
  const config = (compilerOptions) => JSON.stringify({ extends: '@stripe/ui-extension-tools/tsconfig.ui-extension.json', compilerOptions, include: ['view.tsx'] });
  writeFileSync(join(dir, 'tsconfig.stripe.json'), config({}));
  writeFileSync(join(dir, 'tsconfig.bundler.json'), config({ module: 'esnext', moduleResolution: 'bundler' }));
  writeFileSync(
    join(dir, 'tsconfig.dts.json'),
    JSON.stringify({
      compilerOptions: { noEmit: true, strict: true, skipLibCheck: false, types: [], lib: ['es2020', 'dom'], module: 'nodenext', moduleResolution: 'nodenext' },
      files: ['node_modules/@appbackend/ui-extension/dist/index.d.ts', 'node_modules/@appbackend/ui-extension/dist/react.d.ts'],
    }),
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

async function tsc(project) {
  try {
    await run(process.execPath, [TSC, '-p', join(dir, project), '--pretty', 'false', '--listFiles'], { cwd: dir, maxBuffer: 1 << 24 }).then((r) => (tsc.files = r.stdout));
  } catch (err) {
    assert.fail(`tsc -p ${project} failed:\n${err.stdout}${err.stderr}`);
  }
  return tsc.files;
}

describe('type-check', { concurrency: true }, () => {
  it("compiles a view with Stripe's preset (@stripe/ui-extension-tools, moduleResolution node)", async () => {
    const files = await tsc('tsconfig.stripe.json');
    assert.match(files, /@stripe\/ui-extension-sdk\/utils\/context\.d\.ts/, 'the SDK types were used');
    assert.match(files, /dist\/react\.d\.ts/, 'the React entry resolved through typesVersions');
  });

  it('compiles the view with moduleResolution bundler', async () => {
    const files = await tsc('tsconfig.bundler.json');
    assert.match(files, /dist\/react\.d\.ts/);
  });

  it("dist's declarations stand alone (strict, no skipLibCheck, neither SDK nor React types)", async () => {
    const files = await tsc('tsconfig.dts.json');
    assert.doesNotMatch(files, /@stripe|@types\/react/);
  });
});
