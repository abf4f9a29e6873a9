// A real BPF object for unit tests over the fake addon: open() checks the ELF structure
// in TypeScript before any native call (src/elf-check.ts), so the bytes handed to the fake
// must be a well-formed object even though the fake reads nothing from them.
import * as fs from 'node:fs';
import * as path from 'node:path';

const BASIC = path.resolve(__dirname, '../../../test/fixtures/obj/basic.bpf.o');

/** The bytes of test/fixtures/obj/basic.bpf.o (built by scripts/build.sh). */
export const objectBytes: Buffer = fs.readFileSync(BASIC);
