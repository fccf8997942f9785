/**
 * Deep verification, longer than CI allows: every model-checker configuration (CI's and the
 * bigger ones) and many more simulated histories. Exits non-zero if any configuration is
 * incomplete or violated, or any history breaks an invariant; each kind of simulation violation
 * is printed once, with its counterexample and the seeds that reach it.
 *
 *   npx tsx test/testing/verify-deep.ts [--histories 100000] [--first-seed 1]
 *                                       [--only-model-checker | --only-simulation]
 *
 * (wired as `npm run verify:deep`).
 */
import {
  CI_MODEL_CHECKS,
  checkModel,
  DEEP_MODEL_CHECKS,
  formatModelCheckerResult,
} from '../../src/testing/model-checker.js'
import { formatSimulationFailure, minimizeFailure, simulate } from '../../src/testing/simulator.js'

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`Expected --${name} to be a whole number`)
  return value
}

const histories = option('histories', 100_000)
const firstSeed = option('first-seed', 1)
let failed = false

for (const config of process.argv.includes('--only-simulation')
  ? []
  : [...CI_MODEL_CHECKS, ...DEEP_MODEL_CHECKS]) {
  const result = checkModel(config)
  console.log(formatModelCheckerResult(result))
  if (result.violation !== undefined || !result.complete) failed = true
}

if (!process.argv.includes('--only-model-checker')) {
  // Keeps going after a failure: each kind of violation (its message with ids blanked) is
  // printed once, with its first seed, so one long run shows every distinct problem.
  const started = Date.now()
  let steps = 0
  const kinds = new Map<string, number[]>()
  for (let seed = firstSeed; seed < firstSeed + histories; seed++) {
    const result = simulate({ seed })
    steps += result.faultySteps + result.livenessSteps
    if (result.violation !== undefined) {
      failed = true
      const kind = `${result.violation.invariant}: ${result.violation.message.replace(/\b(t|p)\d+\b/g, '$1#')}`
      const seeds = kinds.get(kind) ?? []
      seeds.push(seed)
      kinds.set(kind, seeds)
      if (seeds.length === 1) console.log(formatSimulationFailure(result, 40, minimizeFailure(result)))
    }
    if ((seed - firstSeed + 1) % 10_000 === 0) {
      console.log(
        `[simulation] ${seed - firstSeed + 1} histories, ${steps} steps, ${((Date.now() - started) / 1000).toFixed(0)}s`,
      )
    }
  }
  const violations = [...kinds.values()].reduce((sum, seeds) => sum + seeds.length, 0)
  console.log(
    `[simulation] ${histories} histories (seeds ${firstSeed}–${firstSeed + histories - 1}), ${steps} steps, ${violations} violations, ${((Date.now() - started) / 1000).toFixed(1)}s`,
  )
  for (const [kind, seeds] of kinds)
    console.log(`  ${seeds.length}× ${kind} (seeds ${seeds.slice(0, 10).join(', ')})`)
}

process.exitCode = failed ? 1 : 0
