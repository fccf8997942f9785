import type { Coordinator } from '../../src/index.js'
import type { Transact } from '../measure.js'
import { type Mix, payloads } from '../workloads.js'

/** Runs the workload's transaction `index` through `coordinator`: `commit()` gives the decision, `completion()` the end. */
export function libraryTransact(coordinator: Coordinator, mix: Mix, n: number): Transact {
  return async (index) => {
    const { txId } = await coordinator.commit({ participants: payloads(mix, index, n) })
    const decidedAt = performance.now()
    await coordinator.completion(txId)
    return { decidedAt, completedAt: performance.now() }
  }
}
