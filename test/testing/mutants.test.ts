/**
 * Teeth (DESIGN.md §5.4): each deliberately broken core must be caught by the simulator and by
 * the model checker, and each counterexample is printed. A checker that cannot fail proves nothing.
 */
import { fc } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { checkModel, formatModelCheckerResult } from '../../src/testing/model-checker.js'
import { MUTANTS } from '../../src/testing/mutants.js'
import { formatSimulationFailure, minimizeFailure, simulate } from '../../src/testing/simulator.js'
import { clusterProperty } from './cluster-commands.js'

/** The simulator must find every mutant within these seeds. */
const SEEDS = 200

describe('teeth: broken cores are caught', () => {
  describe.each(MUTANTS)('mutant %s', (mutant) => {
    it('is caught by the simulator, which prints a shrunk counterexample', () => {
      let seed = 1
      let result = simulate({ seed, mutant })
      while (result.violation === undefined && seed < SEEDS) {
        seed += 1
        result = simulate({ seed, mutant })
      }
      expect(result.violation, `not caught within ${SEEDS} seeds`).toBeDefined()
      const minimized = minimizeFailure(result, 3000)
      console.log(
        `[teeth] simulator caught ${mutant} at seed ${seed}:\n${formatSimulationFailure(result, 12, minimized)}`,
      )
      if (minimized !== undefined)
        expect(minimized.cluster.violation?.invariant).toBe(result.violation?.invariant)
    })

    it('is caught by the model checker, which prints the shortest trace', () => {
      const result = checkModel({
        name: '1 coordinator + 2 participants, 1 crash',
        participants: 2,
        crashes: 1,
        mutant,
      })
      console.log(`[teeth] ${formatModelCheckerResult(result)}`)
      expect(result.violation).toBeDefined()
      expect(result.violation?.shrunk.at(-1)).toContain('✗')
    })
  })

  it('the fast-check commands catch a mutant too, and shrink it', () => {
    const result = fc.check(clusterProperty({ mutant: 'commit-not-forced' }), { seed: 7, numRuns: 300 })
    expect(result.failed).toBe(true)
    console.log(`[teeth] fast-check caught commit-not-forced: ${String(result.counterexample?.[2])}`)
  })
})
