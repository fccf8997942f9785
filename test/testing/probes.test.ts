/**
 * Probes (DESIGN.md §5.2): rare paths the simulation must actually reach, or it only proves the
 * happy path safe. Each probe must fire within a fixed set of seeds.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { PROBE_NAMES, PROBES, type ProbeName } from '../../src/testing/probes.js'
import { simulate } from '../../src/testing/simulator.js'

/** The fixed seeds the probes must fire within. */
const SEEDS = 2000

describe('probes: the simulation reaches the rare paths', () => {
  const firstSeed = new Map<ProbeName, number>()
  const histories = new Map<ProbeName, number>()

  beforeAll(() => {
    for (let seed = 1; seed <= SEEDS; seed++) {
      for (const name of simulate({ seed }).probes.keys()) {
        if (!firstSeed.has(name)) firstSeed.set(name, seed)
        histories.set(name, (histories.get(name) ?? 0) + 1)
      }
    }
    console.log(
      `[probes] within seeds 1–${SEEDS}:\n${PROBE_NAMES.map(
        (name) =>
          `  ${name.padEnd(40)} ${String(histories.get(name) ?? 0).padStart(5)} histories, first at seed ${firstSeed.get(name) ?? '—'}`,
      ).join('\n')}`,
    )
  }, 120_000)

  it.each(PROBE_NAMES.map((name) => [name, PROBES[name]] as const))('%s (%s)', (name) => {
    expect(firstSeed.get(name), `${name} never fired in seeds 1–${SEEDS}`).toBeDefined()
  })
})
