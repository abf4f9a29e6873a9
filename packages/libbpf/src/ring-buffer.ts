// BPF ring buffers (BPF_MAP_TYPE_RINGBUF, kernel 5.8).
import { MapType } from './constants';
import { BpfArgumentError, BpfError } from './errors';
import { EventSource } from './event-source';
import { BpfMap } from './map';
import { native } from './native';

/**
 * Consumes a BPF_MAP_TYPE_RINGBUF map (kernel 5.8) on the Node event loop: the ring's
 * epoll fd is watched with uv_poll, no timers and no threads. Records arrive in order.
 * With a callback, each record is a Buffer view valid for as long as you keep it;
 * without one, iterate with `for await`.
 *
 * @example
 * const rb = new RingBuffer(obj.map('events'), (rec) => console.log(rec.readUInt32LE(0)));
 * // ...
 * rb.close();
 */
export class RingBuffer extends EventSource<Buffer> {
  constructor(map: BpfMap, callback?: (record: Buffer) => void) {
    super(`ring buffer '${map?.name}'`, callback);
    if (!(map instanceof BpfMap)) throw new BpfArgumentError('map', 'expected a BpfMap of a loaded object');
    if (map.type !== MapType.RINGBUF) throw new BpfArgumentError('map', `'${map.name}' is ${map.typeName}, not BPF_MAP_TYPE_RINGBUF`);
    if (callback !== undefined && typeof callback !== 'function') throw new BpfArgumentError('callback', 'expected a function');
    const handle = new (native().NativeRingBuffer)(map.fd, (bytes, meta, _lost, errno) => {
      // Buffer.from(arrayBuffer, offset, length) is the same view as bytes.subarray() without
      // subarray's species-constructor lookups: ~10% less JS time per record (bench/libbpf).
      const ab = bytes.buffer;
      const base = bytes.byteOffset;
      for (let i = 0; i < meta.length; i += 3) this.emit(Buffer.from(ab, base + meta[i], meta[i + 1]));
      if (errno) this.fail(new BpfError('ring_buffer__consume', errno));
    });
    this.attach(handle, map.adopt(this));
  }
}
