import { startNaive2pc } from './baselines/naive-2pc.js'
import { startNaiveTcp2pc } from './baselines/naive-tcp-2pc.js'
import type { ParticipantsHost } from './child/client.js'
import { startLocalCluster } from './library/local-cluster.js'
import { startRemoteCluster } from './library/remote-cluster.js'
import type { CellSpec } from './results.js'
import type { System } from './system.js'

/** Where systems put their files and their second process. */
export interface SystemContext {
  /** A fresh directory per cell, on the disk under test. */
  readonly directory: string
  readonly host: ParticipantsHost
}

/** Starts the system a cell measures. */
export function startSystem(spec: CellSpec, context: SystemContext): Promise<System> {
  const { n, mix, log } = spec
  switch (spec.system) {
    case 'library':
      return spec.transport === 'memory'
        ? startLocalCluster({ n, mix, log, directory: context.directory })
        : startRemoteCluster(
            { transport: spec.transport, n, mix, log, directory: context.directory },
            context.host,
          )
    case 'naive-memory':
      return startNaive2pc({ n, mix, directory: undefined })
    case 'naive-memory-clone':
      return startNaive2pc({ n, mix, directory: undefined, clone: true })
    case 'naive-durable':
      return startNaive2pc({ n, mix, directory: context.directory })
    case 'naive-tcp':
      return startNaiveTcp2pc({ n, mix }, context.host)
  }
}
