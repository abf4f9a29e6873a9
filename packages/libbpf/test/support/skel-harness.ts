// Generated modules under test: type-check them with the repository's tsc as a consumer
// would (strict, in a project that installed @bpf-sync-timer/libbpf), and run them, with
// the package itself or with its addon-free parts standing in for it.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';

/** packages/libbpf (tests run from dist/test/...). */
export const PACKAGE_DIR = path.resolve(__dirname, '../../..');
const REPO = path.resolve(PACKAGE_DIR, '../..');

/** The strictest settings a consumer may have, on top of --strict. */
export const STRICTER = ['--noUnusedLocals', '--noUnusedParameters', '--noUncheckedIndexedAccess', '--exactOptionalPropertyTypes',
  '--noImplicitReturns', '--noPropertyAccessFromIndexSignature', '--noImplicitOverride', '--noFallthroughCasesInSwitch'];

/** A temporary consumer project whose node_modules has this package and @types/node. */
export function consumerDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpf-skel-'));
  fs.mkdirSync(path.join(dir, 'node_modules', '@bpf-sync-timer'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true });
  fs.symlinkSync(PACKAGE_DIR, path.join(dir, 'node_modules', '@bpf-sync-timer', 'libbpf'));
  fs.symlinkSync(path.join(REPO, 'node_modules', '@types', 'node'), path.join(dir, 'node_modules', '@types', 'node'));
  return dir;
}

/** Runs tsc in `dir` on `files` with `flags`; fails with tsc's output when it reports errors. */
export function tsc(dir: string, files: string[], flags: string[]): void {
  const bin = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [bin, '--strict', '--target', 'es2022', '--lib', 'es2022,esnext.disposable', '--types', 'node',
    '--skipLibCheck', 'false', ...flags, ...files], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `tsc ${flags.join(' ')} ${files.join(' ')} failed:\n${(r.stdout + r.stderr).split('\n').slice(0, 30).join('\n')}`);
}

/**
 * Runs a generated module's TypeScript (transpiled, CommonJS) with `lib` standing in for
 * `@bpf-sync-timer/libbpf`; returns its exports.
 */
export function runModule(source: string, lib: object): Record<string, unknown> {
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
  const module = { exports: {} as Record<string, unknown> };
  const req = (id: string) => (id === '@bpf-sync-timer/libbpf' ? lib : require(id));
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  new Function('require', 'module', 'exports', js)(req, module, module.exports);
  return module.exports;
}
