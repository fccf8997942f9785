import type { Coordinator } from '../../src/index.js'
import type { Transact } from '../measure.js'
import { type Mix, payloads } from '../workloads.js'

/**
 * Runs the workload's transaction `index` through `coordinator`: `commit()` gives the decision
 * (and the outcome: `commit`, or `abort: <reason>`), `completion()` the end.
 */
export function libraryTransact(coordinator: Coordinator, mix: Mix, n: number): Transact {
  return async (index) => {
    const result = await coordinator.commit({ participants: payloads(mix, index, n) })
    const decidedAt = performance.now()
    await coordinator.completion(result.txId)
    const outcome = result.decision === 'commit' ? 'commit' : `${result.decision}: ${result.reason}`
    return { decidedAt, completedAt: performance.now(), outcome }
  }
}
