// What an object declares, read from its BTF and ELF without libbpf: the maps of `.maps`
// (BTF-defined: `__uint(type, ...)`, `__type(key, ...)`) and the programs (functions in
// executable sections other than .text), as libbpf's bpf_object__open would find them.
import type { Btf } from './btf';
import { SHF_EXECINSTR, STT_FUNC } from './elf';

/** A map declared in `.maps`. Sizes and types are as declared; libbpf may adjust some at load. */
export interface MapDefinition {
  name: string;
  /** `enum bpf_map_type` (`__uint(type, ...)`); 0 when not declared. */
  type: number;
  maxEntries: number | undefined;
  flags: number | undefined;
  /** BTF type id of the key (`__type(key, T)`), when declared so. */
  keyType: number | undefined;
  valueType: number | undefined;
  /** Key size: from `__type(key, T)` or `__uint(key_size, N)`; undefined when neither. */
  keySize: number | undefined;
  valueSize: number | undefined;
  /** True for maps of maps and program arrays declared with `__array(values, ...)`. */
  hasInnerValues: boolean;
}

/** A program: a function in an executable section other than `.text`. */
export interface ProgramDefinition {
  /** The C function name (libbpf's program name). */
  name: string;
  /** The ELF section (`tracepoint/syscalls/sys_enter_read`, `syscall`, ...). */
  section: string;
}

/** The maps an object declares in its `.maps` section, in declaration (offset) order. */
export function mapDefinitions(btf: Btf): MapDefinition[] {
  const sec = btf.datasecs.find((d) => d.name === '.maps');
  if (!sec) return [];
  return sec.vars.map((v) => {
    const variable = btf.type(v.type);
    const def = btf.resolve(variable.kind === 'VAR' ? variable.type : v.type);
    const out: MapDefinition = {
      name: variable.name, type: 0, maxEntries: undefined, flags: undefined, keyType: undefined, valueType: undefined,
      keySize: undefined, valueSize: undefined, hasInnerValues: false,
    };
    if (def.kind !== 'STRUCT') return out;
    for (const m of def.members) {
      const t = btf.resolve(m.type);
      // __uint(name, N) is `int (*name)[N]`; __type(name, T) is `typeof(T) *name`.
      const uint = t.kind === 'PTR' ? btf.resolve(t.type) : undefined;
      const n = uint?.kind === 'ARRAY' ? uint.nelems : undefined;
      switch (m.name) {
        case 'type': out.type = n ?? 0; break;
        case 'max_entries': out.maxEntries = n; break;
        case 'map_flags': out.flags = n; break;
        case 'key_size': out.keySize = n; break;
        case 'value_size': out.valueSize = n; break;
        case 'key':
          if (t.kind === 'PTR') {
            out.keyType = t.type;
            out.keySize = btf.sizeOf(t.type);
          }
          break;
        case 'value':
          if (t.kind === 'PTR') {
            out.valueType = t.type;
            out.valueSize = btf.sizeOf(t.type);
          }
          break;
        case 'values': out.hasInnerValues = true; break;
        default: break;
      }
    }
    return out;
  });
}

/** The programs of an object (needs the ELF file; raw BTF has none). */
export function programDefinitions(btf: Btf): ProgramDefinition[] {
  const elf = btf.elf;
  if (!elf) return [];
  const out: Array<ProgramDefinition & { key: number }> = [];
  for (const s of elf.symbols) {
    if (s.type !== STT_FUNC || s.section === 0 || s.section >= 0xff00) continue;
    const sec = elf.sections[s.section];
    if (!sec || !(sec.flags & SHF_EXECINSTR) || sec.name === '.text') continue;
    out.push({ name: s.name, section: sec.name, key: sec.index * 2 ** 32 + s.value });
  }
  return out.sort((a, b) => a.key - b.key).map(({ name, section }) => ({ name, section }));
}
