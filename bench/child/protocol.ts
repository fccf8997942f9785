import type { LogKind } from '../library/logs.js'
import type { NetworkKind } from '../library/network.js'
import type { ProcessUsage } from '../measure.js'
import type { SystemCounters } from '../system.js'

/**
 * What the parent asks the participants' host (a second process) to do. The host runs one service
 * at a time; `stop` ends it.
 */
export type HostCommand =
  /** Start `n` twopc participants on `transport`, told where the coordinator listens. */
  | {
      readonly type: 'library-participants'
      readonly transport: NetworkKind
      readonly n: number
      readonly log: LogKind
      readonly directory: string
      readonly coordinator: string
    }
  /** Start `n` participants of the naive 2PC over TCP. */
  | { readonly type: 'naive-tcp-participants'; readonly n: number }
  /** Start a TCP server that echoes every line. */
  | { readonly type: 'echo-server' }
  /** Start an HTTP server that answers every request with 204. */
  | { readonly type: 'http-server' }
  /** The running service's counters. */
  | { readonly type: 'counters' }
  /** Start measuring this process's CPU and event-loop delay. */
  | { readonly type: 'usage-start' }
  /** Stop measuring; answers the {@link ProcessUsage}. */
  | { readonly type: 'usage-stop' }
  /** Stop the running service. */
  | { readonly type: 'stop' }

/** The answer to each command. */
export interface HostAnswers {
  'library-participants': { readonly addresses: Readonly<Record<string, string>> }
  'naive-tcp-participants': { readonly ports: Readonly<Record<string, number>> }
  'echo-server': { readonly port: number }
  'http-server': { readonly port: number }
  counters: SystemCounters
  'usage-start': null
  'usage-stop': ProcessUsage
  stop: null
}

/** Parent → host. */
export interface HostRequest {
  readonly id: number
  readonly command: HostCommand
}

/** Host → parent. */
export type HostReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string }
