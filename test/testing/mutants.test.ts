/**
 * Teeth (DESIGN.md §5.4): each deliberately broken core (and the broken runtime queue) must be
 * caught by the model checker and, but for two, by the simulator; each counterexample is printed.
 * A checker that cannot fail proves nothing.
 */
import { fc } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import type { FaultMix } from '../../src/testing/fault-mix.js'
import {
  checkModel,
  formatModelCheckerResult,
  type ModelCheckerConfig,
} from '../../src/testing/model-checker.js'
import { MUTANTS, type MutantName } from '../../src/testing/mutants.js'
import { formatSimulationFailure, minimizeFailure, simulate } from '../../src/testing/simulator.js'
import { clusterProperty } from './cluster-commands.js'

/** The simulator must find every mutant it checks within these seeds. */
const SEEDS = 200

/** How each mutant is hunted: the simulator's fault mix (undefined: not by the simulator), and the model checker's configuration. */
const HUNTS: Readonly<
  Record<
    Exclude<MutantName, 'outcome-per-answer' | 'ill-formed-vote'>,
    { readonly simulator: Partial<FaultMix> | undefined; readonly model: Omit<ModelCheckerConfig, 'name'> }
  >
> = {
  'vote-before-prepared-durable': { simulator: {}, model: { participants: 2, crashes: 1 } },
  'coordinator-forgets-before-acks': { simulator: {}, model: { participants: 2, crashes: 1 } },
  'ack-before-outcome-durable': { simulator: {}, model: { participants: 2, crashes: 1 } },
  'commit-not-forced': { simulator: {}, model: { participants: 2, crashes: 1 } },
  'commit-for-unknown-transaction': { simulator: {}, model: { participants: 2, crashes: 1 } },
  'stale-prepare-accepted': { simulator: {}, model: { participants: 2, crashes: 1 } },
  // Needs a node outside the transaction whose vote the network forges.
  'vote-from-outsider-counted': {
    simulator: { inputRate: 0.2 },
    model: { participants: 3, transactions: [[1, 2]], crashes: 0, forgeries: 1 },
  },
  // Needs a participant that forgets (rememberedTransactions: 1) a vote a peer in doubt asks about.
  // Model checker only: in the simulator's small-memory mixes the bound on aborts told to peers
  // (rememberedTransactions) silences the participant first (not within 300 seeds of four mixes).
  'eviction-keeps-answering': {
    simulator: undefined,
    model: {
      participants: 2,
      transactions: [[1, 2], [2]],
      votes: ['yes', 'read-only'],
      crashes: 0,
      rememberedTransactions: 1,
    },
  },
  // Only the model checker finds it (a crash right after an abort told to a peer, then a probe
  // that rebinds the transaction to the new life): not within 300 seeds of tailored mixes.
  'cooperative-abort-not-forced': { simulator: undefined, model: { participants: 2, crashes: 1 } },
  // Only a liveness check sees it: safety holds, but the coordinator's log never compacts.
  'recovery-skips-unended-commit': { simulator: {}, model: { participants: 2, crashes: 1 } },
  'runtime-releases-out-of-order': { simulator: {}, model: { participants: 2, crashes: 1 } },
}

describe('teeth: broken cores are caught', () => {
  describe.each(MUTANTS)('mutant %s', (mutant) => {
    const hunt = HUNTS[mutant as Exclude<MutantName, 'outcome-per-answer' | 'ill-formed-vote'>]
    it.skipIf(hunt.simulator === undefined)(
      'is caught by the simulator, which prints a shrunk counterexample',
      () => {
        const mix = hunt.simulator ?? {}
        let seed = 1
        let result = simulate({ seed, mutant, mix })
        while (result.violation === undefined && seed < SEEDS) {
          seed += 1
          result = simulate({ seed, mutant, mix })
        }
        expect(result.violation, `not caught within ${SEEDS} seeds`).toBeDefined()
        const minimized = minimizeFailure(result, 3000)
        console.log(
          `[teeth] simulator caught ${mutant} at seed ${seed}:\n${formatSimulationFailure(result, 12, minimized)}`,
        )
        if (minimized !== undefined)
          expect(minimized.cluster.violation?.invariant).toBe(result.violation?.invariant)
      },
    )

    it('is caught by the model checker, which prints the shortest trace', () => {
      const result = checkModel({ name: `hunting ${mutant}`, ...hunt.model, mutant })
      console.log(`[teeth] ${formatModelCheckerResult(result)}`)
      expect(result.violation).toBeDefined()
      expect(result.violation?.shrunk.at(-1) ?? result.violation?.violation.message).toMatch(/✗|quiescent/)
    }, 120_000)
  })

  it('the fast-check commands catch a mutant too, and shrink it', () => {
    const result = fc.check(clusterProperty({ mutant: 'commit-not-forced' }), { seed: 7, numRuns: 300 })
    expect(result.failed).toBe(true)
    console.log(`[teeth] fast-check caught commit-not-forced: ${String(result.counterexample?.[2])}`)
  })
})
