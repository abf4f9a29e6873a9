// The writer thread of `sync-timer collect`: receives batches of raw samples from the event
// loop's thread, decodes them and writes the files, so encoding, compression and disk writes
// never delay the ring buffer's consumer. Speaks the protocol of collect-writer.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { decodeRow, SAMPLE_SIZE, type Row } from './collect-schema';
import { NdjsonSink, ParquetSink, type Format, type ParquetModule, type Sink, type SinkOptions } from './collect-sinks';

/** What the worker is started with. */
export interface WorkerConfig {
  format: Format;
  host: string;
  sink: SinkOptions;
  /** hyparquet-writer's entry file, resolved by the main thread (Parquet only). */
  parquetEntry?: string;
}

/** Messages to the worker. */
export type ToWorker = { type: 'batch'; bytes: ArrayBuffer; count: number } | { type: 'close' };

/** Messages from the worker. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'ack'; rows: number }
  | { type: 'closed'; files: ReturnType<Sink['close']> }
  | { type: 'error'; message: string };

// A real import(): tsc would turn import() into require(), which loads an ES module only on newer Node.
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>;

async function openSink(config: WorkerConfig): Promise<Sink> {
  if (config.format === 'ndjson') return new NdjsonSink(config.sink);
  const parquet = (await importModule(pathToFileURL(config.parquetEntry!).href)) as ParquetModule;
  return new ParquetSink(config.sink, parquet);
}

function decodeBatch(bytes: ArrayBuffer, count: number, host: string): Row[] {
  const view = new Uint8Array(bytes);
  const rows = new Array<Row>(count);
  for (let i = 0; i < count; i++) rows[i] = decodeRow(view, i * SAMPLE_SIZE, host);
  return rows;
}

async function run(): Promise<void> {
  const port = parentPort!;
  const config = workerData as WorkerConfig;
  const post = (m: FromWorker) => port.postMessage(m);
  let sink: Sink;
  try {
    sink = await openSink(config);
  } catch (e) {
    post({ type: 'error', message: (e as Error).message });
    return;
  }
  post({ type: 'ready' });
  port.on('message', (m: ToWorker) => {
    try {
      if (m.type === 'batch') {
        sink.add(decodeBatch(m.bytes, m.count, config.host));
        post({ type: 'ack', rows: m.count });
      } else {
        post({ type: 'closed', files: sink.close() });
        port.close();
      }
    } catch (e) {
      post({ type: 'error', message: (e as Error).message });
      port.close();
    }
  });
}

void run();
