import { Coordinator, type CoordinatorOptions } from '../../src/index.js'
import { TcpTransport } from '../../src/node.js'
import type { System } from '../system.js'
import { COORDINATOR_ID, type Mix, participantIds } from '../workloads.js'
import { openLog } from './logs.js'
import { type NodeLimits, nodeTotals, type ParticipantTimings, startParticipants } from './nodes.js'
import { libraryTransact } from './transact.js'

/** The options of a coordinator that a loopback cluster lets its caller choose (the rest are its own). */
export type LoopbackCoordinatorOptions = Omit<CoordinatorOptions, 'id' | 'transport' | 'log'>

/** A cluster in this process whose nodes talk over real TCP on 127.0.0.1, each on a MemoryLog. */
export interface LoopbackClusterSpec {
  readonly n: number
  readonly mix: Mix
  /** Every option of the coordinator beyond its id, transport and log. */
  readonly coordinator: LoopbackCoordinatorOptions
  /** The participants' timings (`{}`: the library's defaults) and limits. */
  readonly participants: { readonly timings: ParticipantTimings; readonly limits: NodeLimits }
}

/** What the TCP transports of a loopback cluster discarded, by reason, summed over its nodes. */
export interface LoopbackTransportTotals {
  /** Outbound messages dropped (`queue-full`, …). */
  readonly dropped: Readonly<Record<string, number>>
  /** Inbound frames refused. */
  readonly rejected: Readonly<Record<string, number>>
}

/** A started loopback cluster: the {@link System} view, plus finer counters. */
export interface LoopbackCluster extends System {
  /** Messages sent by every node, by type (retransmissions included). */
  messagesByType(): Record<string, number>
  transportTotals(): LoopbackTransportTotals
}

/** Adds `values` into `into`, key by key. */
function addInto(into: Record<string, number>, values: Readonly<Record<string, number>>): void {
  for (const [key, value] of Object.entries(values)) into[key] = (into[key] ?? 0) + value
}

/**
 * Starts a coordinator and `n` participants in this process, each with its own unauthenticated
 * {@link TcpTransport} on a port of 127.0.0.1 the OS picks and every other node as a peer: the
 * library's real network path (framing, queues, sockets, validation) without a second process.
 */
export async function startLoopbackCluster(spec: LoopbackClusterSpec): Promise<LoopbackCluster> {
  const ids = [COORDINATOR_ID, ...participantIds(spec.n)]
  const transports = new Map<string, TcpTransport>()
  for (const id of ids) {
    transports.set(id, await TcpTransport.listen({ id, listen: '127.0.0.1:0', authentication: 'none' }))
  }
  for (const [id, transport] of transports)
    for (const [peer, other] of transports) if (peer !== id) transport.setPeer(peer, other.address)
  const transportOf = (id: string) => transports.get(id) as TcpTransport
  const group = await startParticipants(participantIds(spec.n), {
    log: 'memory',
    directory: '',
    transport: transportOf,
    timings: spec.participants.timings,
    limits: spec.participants.limits,
  })
  const coordinatorLog = openLog('memory', '', COORDINATOR_ID)
  const coordinator = new Coordinator({
    ...spec.coordinator,
    id: COORDINATOR_ID,
    transport: transportOf(COORDINATOR_ID),
    log: coordinatorLog.log,
  })
  await coordinator.start()
  const nodes = [coordinator, ...group.participants]
  return {
    transact: libraryTransact(coordinator, spec.mix, spec.n),
    counters: async () => ({ ...nodeTotals(nodes, [coordinatorLog, ...group.logs]), bytes: undefined }),
    messagesByType: () => {
      const byType: Record<string, number> = {}
      for (const node of nodes)
        for (const [type, sent] of Object.entries(node.stats().messagesSent))
          byType[type] = (byType[type] ?? 0) + sent
      return byType
    },
    transportTotals: () => {
      const dropped: Record<string, number> = {}
      const rejected: Record<string, number> = {}
      for (const transport of transports.values()) {
        const stats = transport.stats()
        addInto(dropped, stats.dropped)
        addInto(rejected, stats.rejected)
      }
      return { dropped, rejected }
    },
    close: async () => {
      await coordinator.close()
      await group.close()
    },
  }
}
