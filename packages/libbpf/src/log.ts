// libbpf's messages, routed to a logger the user can replace.
import { debuglog } from 'node:util';
import { native } from './native';

/** Level of a libbpf message (libbpf's own order). */
export type LogLevel = 'warn' | 'info' | 'debug';

/** Receives libbpf's messages. */
export type Logger = (level: LogLevel, message: string) => void;

const LEVELS: LogLevel[] = ['warn', 'info', 'debug'];
const debug = debuglog('libbpf');

/** The default: warnings to stderr; info and debug when NODE_DEBUG includes `libbpf`. */
export const defaultLogger: Logger = (level, message) => {
  // Most of libbpf's messages are debug ones (dozens per open): left untouched unless
  // NODE_DEBUG asks for them, which keeps them off the start-up path.
  if (level !== 'warn' && !debug.enabled) return;
  const text = message.replace(/\n$/, '');
  // libbpf prefixes its own lines with "libbpf: "; the verifier log inside one does not.
  if (level === 'warn') process.stderr.write(text.startsWith('libbpf: ') ? `${text}\n` : `libbpf: ${text}\n`);
  else debug('%s', text);
};

let current: Logger = defaultLogger;
// NODE_DEBUG is read once per process: here, when the package loads, not in a first start.
const debugOn = debug.enabled;

/** Replaces the logger for all libbpf messages; `null` restores the default. Returns the previous one. */
export function setLogger(logger: Logger | null): Logger {
  const previous = current;
  current = logger ?? defaultLogger;
  return previous;
}

/**
 * Routes the queued libbpf messages to the logger (or to `override` for one call) and
 * returns their texts, for callers that parse them (verifier logs).
 */
export function flushLog(override?: Logger): string[] {
  return flushLogEntries(override).map((e) => e.text);
}

/**
 * As `flushLog`, with each message's level: callers that explain a failure take libbpf's
 * warnings (its reasons) and leave the debug chatter. A logger that throws does not stop
 * the routing, nor replace the error being explained.
 * @internal
 */
export function flushLogEntries(override?: Logger): Array<{ level: LogLevel; text: string }> {
  return route(native().drainLog(), override ?? current);
}

/**
 * Routes the queued libbpf messages to the logger, after a call that succeeded (no message
 * is needed back). What the default logger drops (all but warnings, unless NODE_DEBUG
 * includes `libbpf`) is dropped in the addon: libbpf logs dozens of debug lines per open
 * and load, which would otherwise each become a JS string on the start-up path.
 * @internal
 */
export function routeLog(): void {
  route(native().drainLog(loggedLevel()), current);
}

/**
 * The highest libbpf message level the logger takes: all of them (2, debug) for a logger
 * of the user's or with NODE_DEBUG=libbpf, else warnings only (0).
 * @internal
 */
export function loggedLevel(): number {
  return current !== defaultLogger || debugOn ? LEVELS.length - 1 : 0;
}

function route(raw: Array<number | string>, sink: Logger): Array<{ level: LogLevel; text: string }> {
  const entries: Array<{ level: LogLevel; text: string }> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const level = LEVELS[raw[i] as number] ?? 'debug';
    const text = raw[i + 1] as string;
    entries.push({ level, text });
    try {
      sink(level, text);
    } catch {
      // the user's logger failed; the message is still returned to the caller
    }
  }
  return entries;
}
