/**
 * fast-check model-based tests of the real cores in a simulated cluster: fast-check draws a
 * sequence of commands (Begin, Deliver, Drop, Duplicate, Advance, Sync, Crash, Restart,
 * Partition, Clog, Heal, ResourceBehaviour — see cluster-commands.ts), shrinks a failing one to
 * a minimal sequence, and prints the seed, the path and the commands' replay path. The model is
 * what has been decided: once a transaction is decided anywhere, no node may ever hold another
 * decision for it (S1/S4 seen from outside), on top of S1–S7 checked inside the cluster at every
 * effect; after the commands, the faults stop and L1 must hold.
 *
 * The seed is pinned (printed by every run; TWOPC_FC_SEED=<seed> picks another, =random a fresh
 * one). Replay a failure with
 *   TWOPC_FC_SEED=<seed> TWOPC_FC_PATH=<path> TWOPC_FC_REPLAY_PATH=<replayPath> \
 *   npx vitest run test/testing/model-based.test.ts
 */
import { fc } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { describeMessage } from '../../src/testing/trace.js'
import { Crash, clusterProperty } from './cluster-commands.js'

const RUNS = Number(process.env.TWOPC_FC_RUNS ?? 500)
/**
 * Pinned by default so that CI is reproducible; `TWOPC_FC_SEED=random` explores a fresh seed
 * (printed). Before its fix, seeds 8 and 20250601 found the read-only one-phase finding of
 * findings.test.ts.
 */
const SEED =
  process.env.TWOPC_FC_SEED === undefined
    ? 1
    : process.env.TWOPC_FC_SEED === 'random'
      ? Date.now() % 2 ** 31
      : Number(process.env.TWOPC_FC_SEED)
const PATH = process.env.TWOPC_FC_PATH
const REPLAY_PATH = process.env.TWOPC_FC_REPLAY_PATH

describe('fast-check model-based tests of the real cores in a simulated cluster', () => {
  it(`${RUNS} command sequences keep every decision stable and S1–S7, then reach L1`, () => {
    console.log(
      `[fast-check] seed ${SEED}${PATH === undefined ? '' : `, path ${PATH}`} (replay: TWOPC_FC_SEED=${SEED} npx vitest run test/testing/model-based.test.ts)`,
    )
    const started = Date.now()
    let runs = 0
    let commands = 0
    fc.assert(
      clusterProperty({
        ...(REPLAY_PATH === undefined ? {} : { replayPath: REPLAY_PATH }),
        onRun: (count) => {
          runs += 1
          commands += count
        },
      }),
      { seed: SEED, numRuns: RUNS, ...(PATH === undefined ? {} : { path: PATH }) },
    )
    console.log(
      `[fast-check] ${runs} model-based runs (${commands} commands), 0 violations, ${((Date.now() - started) / 1000).toFixed(1)}s`,
    )
  }, 120_000)

  it('commands and messages print readably in counterexamples', () => {
    expect(String(new Crash('coord', 1, true, 2))).toBe('Crash(coord, keep 1, torn, after 2 effects)')
    expect(
      describeMessage({ v: 2, type: 'vote', txId: 't1', from: 'p1', to: 'coord', vote: 'yes', inc: 1 }),
    ).toBe('vote:yes p1→coord t1')
  })
})
