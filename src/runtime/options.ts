import { invalidOption } from '../core/options.js'
import { type Clock, type DurableLog, type Resource, systemClock, type Transport } from './interfaces.js'

/** Options every runtime node takes besides the protocol timings. */
export interface EdgeOptions {
  /** How this node sends and receives messages. */
  readonly transport: Transport
  /** Where this node keeps its durable records. Never share one log between two nodes. */
  readonly log: DurableLog
  /**
   * Time source for timers and in-doubt ages.
   * @default the system clock
   */
  readonly clock?: Clock
  /**
   * Randomness in [0, 1) for backoff jitter; inject `seededRandom(seed)` for reproducible runs.
   * @default Math.random
   */
  readonly random?: () => number
}

function requireMethods(name: string, value: unknown, methods: readonly string[]): void {
  const target = value as Record<string, unknown> | null
  if (typeof value !== 'object' || value === null || methods.some((m) => typeof target?.[m] !== 'function')) {
    invalidOption(name, `an object with methods ${methods.map((m) => `\`${m}\``).join(', ')}`, value)
  }
}

/** Validates the edges of a node and fills defaults. */
export function resolveEdges(options: EdgeOptions): Required<EdgeOptions> {
  if (typeof options !== 'object' || options === null) invalidOption('options', 'an object', options)
  requireMethods('transport', options.transport, ['send', 'onMessage'])
  requireMethods('log', options.log, ['append', 'load'])
  if (options.clock !== undefined)
    requireMethods('clock', options.clock, ['now', 'setTimeout', 'clearTimeout'])
  if (options.random !== undefined && typeof options.random !== 'function') {
    invalidOption('random', 'a function returning numbers in [0, 1)', options.random)
  }
  return {
    transport: options.transport,
    log: options.log,
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
  }
}

/** Validates a participant's resource. */
export function validateResource(resource: unknown): Resource {
  requireMethods('resource', resource, ['prepare', 'commit', 'abort'])
  return resource as Resource
}

/** Maps a union of `{ type }` events to an eventemitter3 event map: `{ [type]: [event] }`. */
export type EventMap<E extends { readonly type: string }> = {
  [K in E['type']]: [Extract<E, { readonly type: K }>]
}
