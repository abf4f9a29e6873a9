// Where the C headers are, without loading the binding (so `sync-timer include-dir`
// works where the native addon cannot load). The package index exports the same path
// as `includeDir`.
import * as path from 'node:path';

/** The package's `include/` directory: dist/src/cli -> the package root, three levels up. */
export const INCLUDE_DIR: string = path.resolve(__dirname, '..', '..', '..', 'include');
