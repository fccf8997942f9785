import type { InvariantName } from './invariants.js'
import type { SimCluster } from './sim-cluster.js'
import type { SimAction } from './trace.js'

/** A history replayed on a fresh cluster: the actions that applied, their trace, and the cluster after them. */
export interface Replay {
  readonly actions: readonly SimAction[]
  readonly trace: readonly string[]
  readonly cluster: SimCluster
}

/**
 * Replays `actions` on the fresh cluster `start()` returns, skipping any action that is not
 * possible any more (a shrunk history may have removed what enabled it) and stopping at the
 * first violation. Time plays no part: every action names what happens, not when.
 */
export function replay(start: () => SimCluster, actions: readonly SimAction[]): Replay {
  const cluster = start()
  const applied: SimAction[] = []
  const trace: string[] = []
  for (const action of actions) {
    const line = cluster.apply(action)
    if (line === undefined) continue
    applied.push(action)
    trace.push(line)
    if (cluster.violation !== undefined) break
  }
  return { actions: applied, trace, cluster }
}

/**
 * Shrinks a history that breaks `invariant` to a shorter one that still breaks it, by removing
 * chunks of actions, halving the chunk size when nothing more can go (a simple form of
 * Zeller's delta debugging). Stops after `budgetMs` with the best history so far.
 *
 * Only safety violations (S1–S7) shrink this way; an L1 failure depends on the liveness phase.
 */
export function shrinkHistory(
  start: () => SimCluster,
  actions: readonly SimAction[],
  invariant: InvariantName,
  budgetMs = 10_000,
): Replay {
  const deadline = Date.now() + budgetMs
  const fails = (candidate: readonly SimAction[]) =>
    replay(start, candidate).cluster.violation?.invariant === invariant
  let current = replay(start, actions).actions
  if (!fails(current)) return replay(start, actions)
  let chunk = Math.max(1, Math.ceil(current.length / 2))
  while (Date.now() < deadline) {
    let removed = false
    for (let i = 0; i < current.length && Date.now() < deadline; ) {
      const candidate = [...current.slice(0, i), ...current.slice(i + chunk)]
      if (fails(candidate)) {
        current = replay(start, candidate).actions
        removed = true
      } else {
        i += chunk
      }
    }
    if (!removed) {
      if (chunk === 1) break
      chunk = Math.max(1, Math.floor(chunk / 2))
    }
  }
  return replay(start, current)
}
