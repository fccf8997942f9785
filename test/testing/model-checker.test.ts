/**
 * The exhaustive model checker of the real cores (DESIGN.md §5.3): every configuration CI checks
 * must be explored completely with no violation, and the figures (states, transitions, depth,
 * time) are printed. The checker's own soundness assumptions are tested here too: a copied core
 * behaves exactly like the original, and symmetry reduction merges states without changing a
 * verdict. Bigger configurations: `npx tsx test/testing/verify-deep.ts` (npm run verify:deep).
 */
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../src/runtime/seeded-random.js'
import { CI_MODEL_CHECKS, checkModel, formatModelCheckerResult } from '../../src/testing/model-checker.js'
import { SimCluster } from '../../src/testing/sim-cluster.js'
import type { SimAction } from '../../src/testing/trace.js'

describe('exhaustive model checking of the real cores', () => {
  it.each(CI_MODEL_CHECKS.map((config) => [config.name, config] as const))(
    '%s: every reachable state keeps S1–S7',
    (_name, config) => {
      const result = checkModel(config)
      console.log(`[model checker] ${formatModelCheckerResult(result)}`)
      expect(result.violation).toBeUndefined()
      expect(result.unboundedLog, formatModelCheckerResult(result)).toBeUndefined()
      expect(result.complete).toBe(true)
    },
    120_000,
  )

  it.each([
    ['no votes', { votes: [] }, '`votes`'],
    ['a negative crash budget', { crashes: -1 }, '`crashes`'],
    ['a transaction naming a participant that does not exist', { transactions: [[5]] }, '`transactions`'],
    [
      'a participant named twice in a transaction',
      { participants: 2, transactions: [[1, 1]] },
      '`transactions`',
    ],
    ['no transactions', { transactions: [] }, '`transactions`'],
    ['no room for pending Readys', { maxPendingReadys: 0 }, '`maxPendingReadys`'],
    ['an unknown network', { network: 'bogus' as never }, '`network`'],
  ])('refuses a configuration with %s (INVALID_OPTIONS)', (_, change, option) => {
    expect(() => checkModel({ name: 'bad', participants: 1, crashes: 0, ...change })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining(option) }),
    )
  })

  it('reports a log that grows with every question, and calls the exploration incomplete', () => {
    // The bug it found in the real core, as a mutant: an abort forced again at every answer.
    const config = { name: 'outcome per answer', participants: 2, crashes: 0 }
    const result = checkModel({ ...config, mutant: 'outcome-per-answer' })
    console.log(`[model checker] ${formatModelCheckerResult(result)}`)
    expect(result.violation).toBeUndefined()
    expect(result.unboundedLog?.trace.filter((step) => step.includes('Sync(p')).length).toBeGreaterThan(6)
    expect(result.complete).toBe(false)
    const real = checkModel(config)
    expect(real.unboundedLog).toBeUndefined()
    expect(real.complete).toBe(true)
  })

  it('a copied cluster (cores copied by reflection) behaves exactly like the original', () => {
    const random = seededRandom(11)
    const original = new SimCluster({
      participants: ['p1', 'p2', 'p3'],
      timing: { cooperativeTerminationAfterMs: 1 },
    })
    original.apply({ type: 'begin', txId: 't1', participants: ['p1', 'p2', 'p3'] })
    let copy = original.clone()
    for (let step = 0; step < 400; step++) {
      const actions = possibleActions(original, random)
      const action = actions[Math.floor(random() * actions.length)]
      if (action === undefined) break
      expect(copy.apply(action)).toBe(original.apply(action))
      expect(copy.canonical()).toBe(original.canonical())
      if (step % 50 === 0) copy = copy.clone()
    }
  })

  it('symmetry reduction merges mirror-image states and changes no verdict', () => {
    const config = { name: 'symmetry', participants: 2, crashes: 0 }
    const reduced = checkModel(config)
    const full = checkModel({ ...config, symmetry: false })
    console.log(`[model checker] symmetry: ${reduced.states} states with reduction, ${full.states} without`)
    expect(reduced.states).toBeLessThan(full.states)
    expect(reduced.complete && full.complete).toBe(true)
    const mutant = { ...config, crashes: 1, mutant: 'commit-for-unknown-transaction' as const }
    expect(checkModel(mutant).violation?.violation.invariant).toBe(
      checkModel({ ...mutant, symmetry: false }).violation?.violation.invariant,
    )
  })
})

/** Some actions possible now, for the random walk of the copy test. */
function possibleActions(cluster: SimCluster, random: () => number): SimAction[] {
  const actions: SimAction[] = []
  for (const node of cluster.nodes.values()) {
    if (!node.up) {
      actions.push({ type: 'restart', node: node.id })
      continue
    }
    if (node.releasable !== undefined) actions.push({ type: 'effect', node: node.id })
    if (node.disk.unsynced > 0) actions.push({ type: 'sync', node: node.id })
    for (const timer of node.timers.values())
      actions.push({ type: 'fire', node: node.id, txId: timer.txId, timer: timer.timer })
    for (const call of node.calls) {
      const base = {
        type: 'resource',
        node: node.id,
        txId: call.request.tx.txId,
        operation: call.request.type,
      } as const
      actions.push(
        call.request.type === 'prepare'
          ? { ...base, result: { type: 'vote', vote: random() < 0.8 ? 'yes' : 'no' } }
          : { ...base, result: { type: 'applied' } },
      )
    }
    if (random() < 0.02) actions.push({ type: 'crash', node: node.id, keep: 0, torn: false })
  }
  for (const entry of cluster.network.inFlight) {
    actions.push({ type: 'deliver', key: entry.key, id: entry.id })
    if (random() < 0.1) actions.push({ type: 'lose', key: entry.key, id: entry.id, reason: 'loss' })
  }
  return actions
}
