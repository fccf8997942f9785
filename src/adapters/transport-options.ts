import type { Server } from 'node:net'
import { TwopcError } from '../core/errors.js'
import { invalidOption, positiveDuration, positiveInteger } from '../core/options.js'
import type { NodeId } from '../core/types.js'
import { isId } from '../core/validate.js'

/** A TCP endpoint, as parsed from `'host:port'`. */
export interface HostPort {
  readonly host: string
  readonly port: number
}

/** Options the network transports share for their outbound side. Validated by `resolveOutbound`. */
export interface OutboundOptions {
  /**
   * Most messages waiting for one peer. When the queue is full the oldest message is dropped
   * (counted, and reported as a `dropped` event with reason `queue-full`): a slow or absent peer
   * cannot make the sender buffer without limit, and the protocol retransmits what matters.
   * @default 10000
   */
  readonly maxQueuedMessages?: number
  /**
   * Most bytes (of message JSON) waiting for one peer; the oldest messages are dropped beyond it,
   * as for {@link maxQueuedMessages}.
   * @default 67108864 (64 MiB)
   */
  readonly maxQueuedBytes?: number
  /**
   * First delay before retrying a peer that could not be reached; doubles (with jitter) on each
   * failure up to {@link retryDelayMsMax}.
   * @default 100
   */
  readonly retryDelayMs?: number
  /**
   * Cap on the delay between two attempts to reach a peer.
   * @default 5000
   */
  readonly retryDelayMsMax?: number
}

/** {@link OutboundOptions} with defaults applied. */
export interface ResolvedOutbound {
  readonly maxQueuedMessages: number
  readonly maxQueuedBytes: number
  readonly retryDelayMs: number
  readonly retryDelayMsMax: number
}

/** Validates {@link OutboundOptions} and applies defaults. */
export function resolveOutbound(options: OutboundOptions): ResolvedOutbound {
  const retryDelayMs = positiveDuration('retryDelayMs', options.retryDelayMs, 100)
  const retryDelayMsMax = positiveDuration(
    'retryDelayMsMax',
    options.retryDelayMsMax,
    Math.max(5000, retryDelayMs),
  )
  if (retryDelayMsMax < retryDelayMs) {
    invalidOption('retryDelayMsMax', `at least \`retryDelayMs\` (${retryDelayMs})`, retryDelayMsMax)
  }
  return {
    maxQueuedMessages: positiveInteger('maxQueuedMessages', options.maxQueuedMessages, 10_000),
    maxQueuedBytes: positiveInteger('maxQueuedBytes', options.maxQueuedBytes, 64 * 1024 * 1024),
    retryDelayMs,
    retryDelayMsMax,
  }
}

/** Checks that `value` is an options object. */
export function requireObject(name: string, value: unknown): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalidOption(name, 'an object', value)
}

/** Checks a node id option. */
export function nodeId(name: string, value: unknown): NodeId {
  if (!isId(value)) invalidOption(name, 'a non-empty string of printable characters', value)
  return value
}

/** Returns `value` (or `fallback`) after checking it is an integer in [min, max]. */
export function integerInRange(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  const resolved = value === undefined ? fallback : value
  if (typeof resolved !== 'number' || !Number.isSafeInteger(resolved) || resolved < min || resolved > max) {
    invalidOption(name, `an integer from ${min} to ${max}`, resolved)
  }
  return resolved
}

/**
 * Starts `server` listening on `address`; resolves once it listens.
 * @throws TwopcError `LISTEN_FAILED` naming the address and the cause (in use, not permitted, an
 * unknown host), with the system error as `cause`
 */
export function listenOn(server: Server, address: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error) =>
      reject(
        new TwopcError(
          'LISTEN_FAILED',
          `Could not listen on ${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}: ${error.message}`,
          {
            cause: error,
          },
        ),
      )
    server.once('error', failed)
    server.listen(address.port, address.host, () => {
      server.off('error', failed)
      resolve()
    })
  })
}

/**
 * Parses `'host:port'` (an IPv6 host in brackets: `'[::1]:7000'`). `minPort` is 0 where the OS may
 * pick the port (a listening address), 1 for an address to connect to.
 */
export function parseHostPort(name: string, value: unknown, minPort: 0 | 1): HostPort {
  const match = typeof value === 'string' ? /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value) : null
  const host = match?.[1] ?? match?.[2]
  const port = Number(match?.[3])
  if (host === undefined || !(port >= minPort && port <= 65_535)) {
    invalidOption(name, `"host:port" with a port from ${minPort} to 65535`, value)
  }
  return { host, port }
}

/** Validates a `{ [nodeId]: address }` map, parsing each address with `parse(optionName, address)`. */
export function parsePeers<T>(value: unknown, parse: (name: string, address: unknown) => T): Map<NodeId, T> {
  const peers = new Map<NodeId, T>()
  if (value === undefined) return peers
  requireObject('peers', value)
  for (const [id, address] of Object.entries(value as Record<string, unknown>)) {
    nodeId(`peers key ${JSON.stringify(id)}`, id)
    peers.set(id, parse(`peers.${id}`, address))
  }
  return peers
}
