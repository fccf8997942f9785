import { Coordinator } from '../../src/index.js'
import type { ParticipantsHost } from '../child/client.js'
import type { System } from '../system.js'
import { COORDINATOR_ID, type Mix } from '../workloads.js'
import { type LogKind, openLog } from './logs.js'
import { listenOn, type NetworkKind } from './network.js'
import { BENCH_TIMINGS, type NodeTotals, nodeTotals } from './nodes.js'
import { libraryTransact } from './transact.js'

/** A cluster across two processes: the coordinator here, the participants in the participants' host. */
export interface RemoteClusterSpec {
  readonly transport: NetworkKind
  readonly n: number
  readonly mix: Mix
  readonly log: LogKind
  /** Directory of the file logs (both processes use it). */
  readonly directory: string
}

function add(a: NodeTotals, b: NodeTotals): NodeTotals {
  return {
    messages: a.messages + b.messages,
    forcedWrites: a.forcedWrites + b.forcedWrites,
    fsyncs: a.fsyncs === undefined && b.fsyncs === undefined ? undefined : (a.fsyncs ?? 0) + (b.fsyncs ?? 0),
  }
}

/** Starts the coordinator's transport, the participants in `host`, introduces them, then starts the coordinator. */
export async function startRemoteCluster(spec: RemoteClusterSpec, host: ParticipantsHost): Promise<System> {
  const endpoint = await listenOn(spec.transport, COORDINATOR_ID)
  const { addresses } = await host.call({
    type: 'library-participants',
    transport: spec.transport,
    n: spec.n,
    log: spec.log,
    directory: spec.directory,
    coordinator: endpoint.address,
  })
  for (const [id, address] of Object.entries(addresses)) endpoint.setPeer(id, address)
  const coordinatorLog = openLog(spec.log, spec.directory, COORDINATOR_ID)
  const coordinator = new Coordinator({
    id: COORDINATOR_ID,
    transport: endpoint.transport,
    log: coordinatorLog.log,
    ...BENCH_TIMINGS,
  })
  await coordinator.start()
  return {
    transact: libraryTransact(coordinator, spec.mix, spec.n),
    counters: async () => ({
      ...add(nodeTotals([coordinator], [coordinatorLog]), await host.call({ type: 'counters' })),
      bytes: undefined,
    }),
    remote: host.usage(),
    close: async () => {
      await coordinator.close()
      await host.call({ type: 'stop' })
    },
  }
}
