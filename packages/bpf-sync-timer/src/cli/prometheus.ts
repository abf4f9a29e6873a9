// `sync-timer monitor --prometheus HOST:PORT`: the timer's metrics on /metrics over
// node:http while the monitor runs, through the package's public metrics entry.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registerPrometheus, type PrometheusRegistry } from '../metrics';
import type { SyncTimer } from '../index';
import { CliError, type HostPort } from './units';

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The URL scraped, with the port actually bound. */
  url: string;
  close(): Promise<void>;
}

interface PromClient {
  Registry: new () => PrometheusRegistry & { metrics(): Promise<string>; contentType: string };
}

/**
 * Serves `timer`'s metrics (a registry of their own) on http://HOST:PORT/metrics; resolves
 * once listening. Rejects when prom-client is missing or the address cannot be bound.
 */
export async function serveMetrics(timer: SyncTimer, at: HostPort): Promise<MetricsServer> {
  let client: PromClient;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    client = require('prom-client') as PromClient;
  } catch {
    throw new CliError('--prometheus needs prom-client, an optional dependency of bpf-sync-timer: npm install prom-client');
  }
  const registry = new client.Registry();
  const registration = registerPrometheus(timer, { registry });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('sync-timer monitor: metrics are on /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    registration.unregister();
    const err = e as NodeJS.ErrnoException;
    throw new CliError(`--prometheus: cannot listen on ${at.host}:${at.port}: ${err.code ?? err.message}`, { cause: e });
  }
  const { port } = server.address() as AddressInfo;
  const host = at.host.includes(':') ? `[${at.host}]` : at.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => {
      registration.unregister();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
