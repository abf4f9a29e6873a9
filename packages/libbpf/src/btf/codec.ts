// Codecs compiled at run time from an object's BTF: the script-side twin of the modules
// bpf-skel writes (same emitted code, as JavaScript through new Function).
import { BpfArgumentError } from '../errors';
import { Btf, loadBtf } from './btf';
import { CodecEmitter, stringSelector } from './codec-emit';
import { codecSupport, type Codec } from './codec-support';

export { codecSupport, type Codec, type CodecSupport } from './codec-support';

/** Options of `btfCodec`. */
export interface CodecOptions {
  /**
   * Byte-array (`char[N]`) members to decode as strings (UTF-8 up to the first NUL) instead
   * of Buffers: `type.field` (`event.comm`), `field` (a member of that name in any struct),
   * or `*` (every `char` array).
   */
  strings?: readonly string[];
}

const cache = new WeakMap<Btf, Map<string, Codec<unknown>>>();

/**
 * A codec for one C type of an object's BTF, built at run time: `size`, `decode(bytes,
 * offset?)`, `encode(value, bytes?, offset?)`. The decoder is straight-line code compiled
 * once per type (as fast as hand-written `Buffer.read*` calls; see bench/skel), so build it
 * once and reuse it. Needs no kernel and no native addon.
 *
 * `type` is a C spelling (`struct event`, `union u`, `enum e`, a typedef name) or a BTF type
 * id; `source` an object's path or bytes, a raw BTF file, or a parsed `Btf`.
 *
 * @example
 * const decode = btfCodec('probe.bpf.o', 'struct event', { strings: ['comm'] });
 * rb = new RingBuffer(obj.map('events'), (rec) => console.log(decode.decode(rec)));
 */
export function btfCodec<T = unknown, E = T>(source: string | Uint8Array | Btf, type: string | number, options: CodecOptions = {}): Codec<T, E> {
  if (options === null || typeof options !== 'object') throw new BpfArgumentError('options', 'expected an object of options');
  const unknown = Object.keys(options).find((k) => k !== 'strings');
  if (unknown !== undefined) throw new BpfArgumentError('options', `unknown option '${unknown}' of btfCodec (known: strings)`);
  const btf = loadBtf(source);
  const id = typeof type === 'number' ? btf.type(type).id : btf.find(type).id;
  const cacheKey = `${id}:${(options.strings ?? []).join(',')}`;
  let perBtf = cache.get(btf);
  if (!perBtf) cache.set(btf, (perBtf = new Map()));
  let codec = perBtf.get(cacheKey);
  if (!codec) {
    codec = compileCodec(btf, id, options);
    perBtf.set(cacheKey, codec);
  }
  return codec as unknown as Codec<T, E>;
}

/** Compiles the codec of type `id` (see `btfCodec`). */
export function compileCodec(btf: Btf, id: number, options: CodecOptions = {}): Codec<unknown> {
  const strings = stringSelector(options.strings);
  const em = new CodecEmitter(btf, { ts: false, h: '$h', strings });
  const size = btf.sizeOf(id);
  const typeName = btf.typeName(id);
  const path = btf.resolve(id).name || typeName;
  const root = { e: 'o', k: 0 };
  const decode = em.decode(id, root, strings.allChars);
  const encode: string[] = [];
  em.encode(id, root, 'v', "''", strings.allChars, encode);
  const fns = em.functions();
  const T = JSON.stringify(typeName);
  const src = `'use strict';
${fns.join('\n')}
return Object.freeze({
  size: ${size},
  typeName: ${T},
  decode: function decode(b, o = 0) {
    if (!(b instanceof Uint8Array) || (o >>> 0) !== o || o + ${size} > b.length) $h.outOfRange(${T}, ${size}, b, o);
    return ${decode};
  },
  encode: $h.encoder(${T}, ${size}, ${JSON.stringify(path)}, function (v, b, o, p) {
    ${encode.join('\n    ')}
  }),
});`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('$h', src)(codecSupport) as Codec<unknown>;
}
