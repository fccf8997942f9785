/**
 * Deterministic simulation of clusters of the real runtime classes (`Coordinator`, `Participant`):
 * one seed drives the simulated clock, network, logs and resources, crashes and restarts; S1–S7
 * are checked at every effect, then a liveness phase must reach L1. A failure prints the seed, the
 * trace and the line that replays it.
 *
 *   TWOPC_RUNTIME_SIM_HISTORIES=<n>   how many histories (default 2,000)
 *   TWOPC_RUNTIME_SIM_FIRST_SEED=<s>  first seed (default 1)
 *   TWOPC_RUNTIME_SIM_SEED=<s>        replay one history and print its whole trace
 */
import { describe, expect, it } from 'vitest'
import {
  formatRuntimeSimulationFailure,
  type RuntimeSimulationResult,
  simulateRuntime,
} from '../../src/testing/runtime-simulator.js'
import { formatTrace } from '../../src/testing/trace.js'

const HISTORIES = Number(process.env.TWOPC_RUNTIME_SIM_HISTORIES ?? 2000)
const FIRST_SEED = Number(process.env.TWOPC_RUNTIME_SIM_FIRST_SEED ?? 1)
const REPLAY = process.env.TWOPC_RUNTIME_SIM_SEED

function fail(result: RuntimeSimulationResult): never {
  throw new Error(formatRuntimeSimulationFailure(result, 60))
}

/** How many trace lines start with each action, e.g. `Crash(`. */
function countActions(trace: readonly string[], counts: Map<string, number>): void {
  for (const line of trace) {
    const action = /^\[\d+ms\] (\w+)\(/.exec(line)?.[1]
    if (action !== undefined) counts.set(action, (counts.get(action) ?? 0) + 1)
  }
}

describe('deterministic simulation of the runtime classes', () => {
  it.runIf(REPLAY !== undefined)(`replays seed ${REPLAY}`, async () => {
    const result = await simulateRuntime({ seed: Number(REPLAY) })
    console.log(`${result.setup}\n${formatTrace(result.trace)}`)
    if (result.violation !== undefined) fail(result)
  })

  it(`${HISTORIES} simulated histories keep S1–S7 at every step and reach L1`, async () => {
    const started = Date.now()
    let steps = 0
    let simulatedMs = 0
    const actions = new Map<string, number>()
    const outcomes = new Map<string, number>()
    for (let seed = FIRST_SEED; seed < FIRST_SEED + HISTORIES; seed++) {
      const result = await simulateRuntime({ seed })
      if (result.violation !== undefined) fail(result)
      steps += result.faultySteps + result.livenessSteps
      simulatedMs += result.simulatedMs
      countActions(result.trace, actions)
      for (const outcome of result.outcomes.values()) {
        const kind = outcome.split(' ')[0] ?? outcome
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1)
      }
    }
    const seconds = (Date.now() - started) / 1000
    const list = (counts: Map<string, number>) =>
      [...counts]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, count]) => `${name} ${count.toLocaleString('en-US')}`)
        .join(', ')
    console.log(
      `[runtime simulation] ${HISTORIES.toLocaleString('en-US')} histories (seeds ${FIRST_SEED}–${FIRST_SEED + HISTORIES - 1}), ` +
        `${steps.toLocaleString('en-US')} steps, ${(simulatedMs / 1000).toFixed(0)}s simulated, 0 violations, ${seconds.toFixed(1)}s\n` +
        `[runtime simulation] actions: ${list(actions)}\n` +
        `[runtime simulation] commit() outcomes: ${list(outcomes)}`,
    )
    // The histories must exercise what they claim to: faults, restarts, and both decisions.
    expect(steps).toBeGreaterThan(HISTORIES * 50)
    for (const action of ['Crash', 'Restart', 'Drop', 'Duplicate', 'Fire', 'Sync'])
      expect(actions.get(action) ?? 0).toBeGreaterThan(HISTORIES / 10)
    for (const outcome of ['commit', 'abort', 'rejected:'])
      expect(outcomes.get(outcome) ?? 0).toBeGreaterThan(0)
  }, 120_000)

  it('teeth: a log that acknowledges appends before they are durable is caught (S2)', async () => {
    const caught: RuntimeSimulationResult[] = []
    for (let seed = 1; seed <= 30; seed++) {
      const result = await simulateRuntime({ seed, mutant: 'log-acknowledges-before-sync' })
      if (result.violation !== undefined) caught.push(result)
    }
    expect(caught.length).toBeGreaterThan(15)
    expect(caught.every((result) => result.violation?.invariant === 'S2')).toBe(true)
    expect(caught[0]?.violation?.message).toMatch(
      /sent vote:yes .* before its `(prepared|outcome:commit)` record/,
    )
  })

  it('teeth: a log that loses a synced record in a crash is caught', async () => {
    const invariants = new Set<string>()
    for (let seed = 1; seed <= 100; seed++) {
      const result = await simulateRuntime({ seed, mutant: 'log-loses-last-synced-record' })
      if (result.violation !== undefined) invariants.add(result.violation.invariant)
    }
    // A durable decision changes (S4), and work is prepared or applied again (S7: a lost `end`, a
    // lost `prepared` record of a transaction it voted on).
    expect(invariants).toContain('S4')
    expect(invariants).toContain('S7')
  })

  it('the same seed gives the same history', async () => {
    const first = await simulateRuntime({ seed: 4242 })
    const second = await simulateRuntime({ seed: 4242 })
    expect(second.trace).toEqual(first.trace)
    expect(second.outcomes).toEqual(first.outcomes)
    expect(first.trace.length).toBeGreaterThan(20)
    expect((await simulateRuntime({ seed: 4243 })).trace).not.toEqual(first.trace)
  })

  it('a seed past 2³² does not replay a small one; a seed that is no safe integer, or an unknown mutant, is refused', async () => {
    const [low, high] = await Promise.all([
      simulateRuntime({ seed: 1 }),
      simulateRuntime({ seed: 2 ** 32 + 1 }),
    ])
    expect(high.trace).not.toEqual(low.trace)
    await expect(simulateRuntime({ seed: Number.NaN })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
    await expect(simulateRuntime({ seed: 1, mutant: 'bogus' as never })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
    })
    await expect(simulateRuntime({ seed: 1, participants: 0 })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
    })
  })

  it('uses no real timer or macrotask', async () => {
    const names = ['setTimeout', 'setInterval', 'setImmediate'] as const
    const originals = names.map((name) => globalThis[name])
    const calls: string[] = []
    for (const [i, name] of names.entries()) {
      const original = originals[i] as (...args: unknown[]) => unknown
      ;(globalThis as Record<string, unknown>)[name] = (...args: unknown[]) => {
        calls.push(name)
        return original(...args)
      }
    }
    try {
      for (let seed = 1; seed <= 20; seed++) await simulateRuntime({ seed })
    } finally {
      for (const [i, name] of names.entries()) (globalThis as Record<string, unknown>)[name] = originals[i]
    }
    expect(calls).toEqual([])
  })
})

/**
 * What the simulation found, each a seed that broke agreement under protocol version 1 and now
 * keeps every invariant. They were pinned with `it.fails` until protocol version 2 fixed them:
 * a `prepare` is bound to one life of its participant, so a later life refuses it and never
 * prepares (or times out and aborts) work an earlier life already voted on. The seeds now drive
 * different histories (the messages changed), so the scenarios themselves are also rebuilt step by
 * step in `test/core/scenarios.test.ts` and the simulators run thousands of fresh seeds.
 */
describe('findings', () => {
  /**
   * Within the protocol's assumptions (no message reaches a later life of its recipient; a
   * message from a node that crashed may still arrive, as one already in the receiver's buffer).
   *
   * t3 is one-phase with p1. p1's resource votes read-only, and would again: the simulated
   * resource's answer is stable per (participant, transaction), as the `Resource` contract
   * requires. p1 sends `vote: read-only` and crashes before it is delivered; it restarts with no
   * record of t3 (a read-only vote logs nothing). The coordinator, still without a vote,
   * retransmits `prepare(1pc)` to p1's new life (188 ms). The old vote then arrives (296 ms) and the
   * coordinator decides commit (read-only in one-phase means commit). The new life runs
   * `resource.prepare` again, which does not answer within the participant's `prepareTimeoutMs`
   * (300 ms here); the runtime counts that as `no`, so p1 aborts t3 on its own (a durable
   * `outcome:abort`, `resource.abort`) although the coordinator decided commit: S1.
   *
   * The runtime's own prepare timeout turns a resource that answers the same way into one that
   * does not — the README's "fickle resource" limit, reached with a well-behaved, once-slow
   * resource, which the core simulator does not model (its resource behaviours are fixed per
   * history). The damage here is small (p1 had nothing to commit), but it is a disagreement.
   * Rare: 2 in 20,000 histories with 1 participant and 5 transactions, 0 in the first 30,000
   * default ones.
   */
  it('a one-phase read-only vote from a crashed life never meets a re-prepared new life that aborts (seed 14713)', async () => {
    const result = await simulateRuntime({
      seed: 14713,
      participants: 1,
      transactions: 5,
      steps: 600,
      admission: false,
    })
    if (result.violation !== undefined) fail(result)
  })

  /**
   * The same in two-phase commit, within the assumptions. Seed 30117 (2 participants, 5
   * transactions, 600 steps), t5 with p1 and p2: p1 sends `vote: read-only` and crashes (145 ms)
   * before it is delivered; its new life knows nothing of t5. The coordinator retransmits `prepare`
   * to it (184 ms); the old vote arrives (223 ms), and with p2's yes the coordinator commits. The new
   * life's `resource.prepare` outlasts `prepareTimeoutMs`, so p1 aborts t5 on its own (711 ms). A
   * participant that aborted answers peers' decision-requests with `abort` (cooperative
   * termination); whether that can mislead an in-doubt yes-voter while the coordinator is down is
   * not reproduced here. 2 in 60,000 histories of this shape.
   */
  it('a two-phase read-only vote from a crashed life never meets a re-prepared new life that aborts (seed 30117)', async () => {
    const result = await simulateRuntime({
      seed: 30117,
      participants: 2,
      transactions: 5,
      steps: 600,
      admission: false,
    })
    if (result.violation !== undefined) fail(result)
  })

  /**
   * With `staleDeliveries` (a message sent before its recipient restarted reaches the new life),
   * which version 1 had to rule out and version 2 handles: seed 3605, where a `prepare`
   * retransmitted before p2's crash reached p2's new life after p2 had voted read-only.
   */
  it('with stale deliveries, a read-only participant is never re-prepared after a restart (seed 3605)', async () => {
    const result = await simulateRuntime({ seed: 3605, staleDeliveries: true, admission: false })
    if (result.violation !== undefined) fail(result)
  })

  it('without stale deliveries, seed 3605 keeps every invariant', async () => {
    const result = await simulateRuntime({ seed: 3605, admission: false })
    if (result.violation !== undefined) fail(result)
  })
})
