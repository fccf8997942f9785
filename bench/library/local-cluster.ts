import { Coordinator, MemoryNetwork, type Resource, type Transport } from '../../src/index.js'
import type { System } from '../system.js'
import { COORDINATOR_ID, type Mix, participantIds } from '../workloads.js'
import { type LogKind, openLog } from './logs.js'
import { BENCH_TIMINGS, type NodeLimits, nodeTotals, startParticipants } from './nodes.js'
import { libraryTransact } from './transact.js'

/** A cluster in this process: a coordinator and `n` participants over one {@link MemoryNetwork}. */
export interface LocalClusterSpec {
  readonly n: number
  readonly mix: Mix
  readonly log: LogKind
  /** Directory of the file logs. */
  readonly directory: string
  /** Wraps each node's transport (to count bytes). */
  readonly wrap?: (transport: Transport) => Transport
  /** The participants' resource. @default votingResource() */
  readonly resource?: Resource
  /** Limits of every node, where the defaults do not fit. */
  readonly limits?: NodeLimits
}

/** A started local cluster: the {@link System} view plus its coordinator. */
export interface LocalCluster extends System {
  readonly coordinator: Coordinator
}

/** Starts a coordinator and `n` participants in this process, every node on its own log of `spec.log`. */
export async function startLocalCluster(spec: LocalClusterSpec): Promise<LocalCluster> {
  const net = new MemoryNetwork()
  const connect = (id: string) => (spec.wrap ?? ((transport) => transport))(net.connect(id))
  const limits = spec.limits ?? {}
  const group = await startParticipants(participantIds(spec.n), {
    log: spec.log,
    directory: spec.directory,
    transport: connect,
    ...(spec.resource === undefined ? {} : { resource: spec.resource }),
    limits,
  })
  const coordinatorLog = openLog(spec.log, spec.directory, COORDINATOR_ID)
  const coordinator = new Coordinator({
    id: COORDINATOR_ID,
    transport: connect(COORDINATOR_ID),
    log: coordinatorLog.log,
    ...BENCH_TIMINGS,
    ...limits,
  })
  await coordinator.start()
  return {
    coordinator,
    transact: libraryTransact(coordinator, spec.mix, spec.n),
    counters: async () => ({
      ...nodeTotals([coordinator, ...group.participants], [coordinatorLog, ...group.logs]),
      bytes: undefined,
    }),
    close: async () => {
      await coordinator.close()
      await group.close()
    },
  }
}
