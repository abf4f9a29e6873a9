// `bpftool btf dump file X format raw`, reproduced from a Btf: the BTF reader's tests
// compare this text with bpftool's own output, type by type.
import { spawnSync } from 'node:child_process';
import type { Btf, BtfType } from '../../src/btf/btf';

const q = (s: string) => `'${s || '(anon)'}'`;

/** One type as bpftool prints it (with its member lines). */
export function formatRaw(btf: Btf, t: BtfType): string {
  const head = `[${t.id}] ${t.kind} ${q(t.name)}`;
  switch (t.kind) {
    case 'VOID': return '';
    case 'INT': {
      const enc = t.signed ? 'SIGNED' : t.char ? 'CHAR' : t.bool ? 'BOOL' : '(none)';
      return `${head} size=${t.size} bits_offset=${t.offset} nr_bits=${t.bits} encoding=${enc}`;
    }
    case 'PTR': case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG':
      return `${head} type_id=${t.type}`;
    case 'ARRAY': return `${head} type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}`;
    case 'STRUCT': case 'UNION':
      return [`${head} size=${t.size} vlen=${t.members.length}`, ...t.members.map((m) =>
        `\t${q(m.name)} type_id=${m.type} bits_offset=${m.bitOffset}${m.bitSize ? ` bitfield_size=${m.bitSize}` : ''}`)].join('\n');
    case 'ENUM': case 'ENUM64': {
      const suffix = t.kind === 'ENUM64' ? (t.signed ? 'LL' : 'ULL') : '';
      return [`${head} encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}`,
        ...t.values.map((v) => `\t${q(v.name)} val=${v.value}${suffix}`)].join('\n');
    }
    case 'FWD': return `${head} fwd_kind=${t.union ? 'union' : 'struct'}`;
    case 'FUNC': return `${head} type_id=${t.type} linkage=${t.linkage}`;
    case 'FUNC_PROTO':
      return [`${head} ret_type_id=${t.returnType} vlen=${t.params.length}`, ...t.params.map((p) => `\t${q(p.name)} type_id=${p.type}`)].join('\n');
    case 'VAR': return `${head} type_id=${t.type}, linkage=${t.linkage}`;
    case 'DATASEC':
      return [`${head} size=${t.size} vlen=${t.vars.length}`, ...t.vars.map((v) => {
        const target = btf.type(v.type);
        return `\ttype_id=${v.type} offset=${v.offset} size=${v.size} (${target.kind} ${q(target.name)})`;
      })].join('\n');
    case 'FLOAT': return `${head} size=${t.size}`;
    case 'DECL_TAG': return `${head} type_id=${t.type} component_idx=${t.componentIdx}`;
  }
}

/** Every type, as bpftool prints the whole file. */
export function formatAll(btf: Btf): string {
  return btf.types.slice(1).map((t) => formatRaw(btf, t)).join('\n');
}

/** bpftool's raw dump of `file`, or undefined when bpftool is not installed. */
export function bpftoolRaw(file: string): string | undefined {
  const r = spawnSync('bpftool', ['btf', 'dump', 'file', file, 'format', 'raw'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  if (r.status !== 0) throw new Error(`bpftool btf dump file ${file} failed: ${r.stderr}`);
  return r.stdout.trimEnd();
}
