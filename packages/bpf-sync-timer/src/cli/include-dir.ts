// Where the C headers are, without loading the binding (so `sync-timer include-dir` and
// `sync-timer cflags` work where the native addon cannot load). The package index exports
// the same paths as `includeDir` and `bpfCflags`.
import * as path from 'node:path';

/** The package's `include/` directory: dist/src/cli -> the package root, three levels up. */
export const INCLUDE_DIR: string = path.resolve(__dirname, '..', '..', '..', 'include');

/**
 * The directory holding `bpf/bpf_helpers.h` of the libbpf release the binding links
 * (@bpf-sync-timer/libbpf's `include/`), found through the package, not its addon.
 */
export function libbpfIncludeDir(): string {
  return path.join(path.dirname(require.resolve('@bpf-sync-timer/libbpf/package.json')), 'include');
}

/**
 * The clang flags a subscriber program needs for our headers: `-I` for this package's
 * headers and for the pinned libbpf's BPF-side headers, so no libbpf-dev is needed.
 */
export function bpfCflags(): string[] {
  return ['-I', INCLUDE_DIR, '-I', libbpfIncludeDir()];
}
