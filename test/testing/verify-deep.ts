/**
 * Deep verification, longer than CI allows: every model-checker configuration (CI's and the
 * bigger ones) and many more simulated histories. Exits non-zero on the first violation, after
 * printing its counterexample.
 *
 *   npx tsx test/testing/verify-deep.ts [--histories 100000] [--first-seed 1] [--only-model-checker]
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

for (const config of [...CI_MODEL_CHECKS, ...DEEP_MODEL_CHECKS]) {
  const result = checkModel(config)
  console.log(formatModelCheckerResult(result))
  if (result.violation !== undefined || !result.complete) failed = true
}

if (!process.argv.includes('--only-model-checker')) {
  const started = Date.now()
  let steps = 0
  for (let seed = firstSeed; seed < firstSeed + histories; seed++) {
    const result = simulate({ seed })
    steps += result.faultySteps + result.livenessSteps
    if (result.violation !== undefined) {
      console.log(formatSimulationFailure(result, 80, minimizeFailure(result)))
      failed = true
      break
    }
    if ((seed - firstSeed + 1) % 10_000 === 0) {
      console.log(
        `[simulation] ${seed - firstSeed + 1} histories, ${steps} steps, ${((Date.now() - started) / 1000).toFixed(0)}s`,
      )
    }
  }
  if (!failed) {
    console.log(
      `[simulation] ${histories} histories (seeds ${firstSeed}–${firstSeed + histories - 1}), ${steps} steps, 0 violations, ${((Date.now() - started) / 1000).toFixed(1)}s`,
    )
  }
}

process.exitCode = failed ? 1 : 0
