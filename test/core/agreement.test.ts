import { fc, test } from '@fast-check/vitest'
import { describe, expect } from 'vitest'
import type { NodeId, TxId, Vote } from '../../src/core/types.js'
import { C, started } from './helpers.js'
import { type AnyReady, Pump } from './pump.js'

/**
 * The pump as a mini-simulator: fast-check draws the transactions, every resource's vote and a
 * list of choices (deliver, duplicate or drop a message, complete a resource request, fire a timer,
 * cancel, flush or crash a node); safety (S1–S3, S5, S6, and S7 in part: no resource prepare after a
 * vote) is checked after every step; then the
 * faults stop and L1 is checked. fast-check prints the seed and a shrunk counterexample on failure.
 */

const POOL: readonly NodeId[] = ['p1', 'p2', 'p3']

const voteArbitrary: fc.Arbitrary<Vote> = fc.oneof(
  { arbitrary: fc.constant<Vote>('yes'), weight: 6 },
  { arbitrary: fc.constant<Vote>('no'), weight: 1 },
  { arbitrary: fc.constant<Vote>('read-only'), weight: 1 },
)

const scenarioArbitrary = fc.record({
  transactions: fc.array(
    fc.record({
      participants: fc.shuffledSubarray([...POOL], { minLength: 1 }),
      votes: fc.tuple(voteArbitrary, voteArbitrary, voteArbitrary),
    }),
    { minLength: 1, maxLength: 2 },
  ),
  // `size: 'max'`: long schedules, not the few steps fast-check's default size would draw.
  steps: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 150, size: 'max' }),
})

type Scenario = typeof scenarioArbitrary extends fc.Arbitrary<infer T> ? T : never

function simulate(
  scenario: Scenario,
  options: { crashes: boolean; compaction: boolean; crashLosesInFlight?: boolean },
): Pump {
  const txIds: TxId[] = scenario.transactions.map((_, i) => `t${i}`)
  const vote = (node: NodeId, txId: TxId): Vote => {
    const tx = scenario.transactions[txIds.indexOf(txId)]
    return tx?.votes[POOL.indexOf(node)] ?? 'yes'
  }
  const pump = new Pump({
    participants: POOL,
    vote,
    // Ask peers from the first retry on: cooperative termination as often as possible.
    cooperativeTerminationAfterMs: 1,
    compaction: options.compaction,
    crashLosesInFlight: options.crashLosesInFlight ?? false,
  })
  scenario.transactions.forEach((tx, i) => {
    pump.begin(txIds[i] ?? '', tx.participants)
  })
  for (const [choice, pick] of scenario.steps) pump.chaosStep(choice, pick, options.crashes)
  pump.heal()
  // L1: everything decided everywhere and nothing left in flight.
  expect(pump.coordinator.inFlight).toBe(0)
  for (const id of POOL) {
    expect(pump.participant(id).inFlight, id).toBe(0)
    expect(pump.participant(id).inDoubt(), id).toEqual([])
  }
  return pump
}

describe('agreement under loss, duplication, reordering, timers and crashes', () => {
  test.prop([scenarioArbitrary], { numRuns: 400 })(
    'no two nodes decide differently and every transaction terminates (no crashes)',
    (scenario) => {
      simulate(scenario, { crashes: false, compaction: false })
    },
  )

  test.prop([scenarioArbitrary], { numRuns: 400 })(
    'no two nodes decide differently and every transaction terminates (crashes lose unsynced tails)',
    (scenario) => {
      simulate(scenario, { crashes: true, compaction: false })
    },
  )

  // With compaction after `end` (what the runtime's `forget` does). Messages in flight to or from
  // a node are lost when it crashes, as with a connection-oriented transport.
  test.prop([scenarioArbitrary], { numRuns: 400 })(
    'no two nodes decide differently and every transaction terminates (crashes, logs compacted after end)',
    (scenario) => {
      simulate(scenario, { crashes: true, compaction: true, crashLosesInFlight: true })
    },
  )

  // The same, but a message sent to a node before its crash may arrive after its restart. Under
  // protocol v1 this property failed: such a message could reopen a transaction the node committed
  // and compacted (a stale one-phase abort request within a few thousand runs, a stale two-phase
  // prepare more rarely). Under v2 the restarted node refuses every request bound to an earlier
  // life; see the last block of scenarios.test.ts. (Checked with 30,000 runs on each of seeds
  // -576292563, 1–6, 15 and 99, and with transactions of 2+ participants on seeds 7, 8 and 15.)
  test.prop([scenarioArbitrary], { numRuns: 400 })(
    'no two nodes decide differently and every transaction terminates (crashes, logs compacted after end, stale messages across restarts)',
    (scenario) => {
      simulate(scenario, { crashes: true, compaction: true, crashLosesInFlight: false })
    },
  )
})

describe('the simulator has teeth', () => {
  test('it catches a participant that votes yes before its prepared record is durable (S2)', () => {
    const pump = new Pump({
      participants: ['p1', 'p2'],
      tamper: (node, ready) => (node === 'p1' ? { ...ready, forceRecords: false } : ready),
    })
    pump.begin('t', ['p1', 'p2'])
    expect(() => pump.runInOrder()).toThrow(
      /S2: p1 sent vote yes for t before its prepared record was durable/,
    )
  })

  test('it catches a coordinator that tells one participant commit and another abort (S1)', () => {
    const pump = new Pump({
      participants: ['p1', 'p2'],
      tamper: (node, ready) =>
        node === 'coord'
          ? {
              ...ready,
              messages: ready.messages.map((m) =>
                m.type === 'commit' && m.to === 'p2' ? { ...m, type: 'abort' } : m,
              ),
            }
          : ready,
    })
    pump.begin('t', ['p1', 'p2'])
    expect(() => pump.runInOrder()).toThrow(/S1: nodes disagree on t/)
  })

  test('it catches a participant that aborts on its own while in doubt (S5), and fast-check finds it', () => {
    // Broken participant: when its decision-request timer fires it gives up and aborts, as if the
    // abort had come from itself.
    const result = fc.check(
      fc.property(scenarioArbitrary, (scenario) => {
        const pump = new Pump({
          participants: POOL,
          vote: () => 'yes',
          tamper: (node, ready) =>
            node !== 'coord' && ready.messages.some((m) => m.type === 'decision-request')
              ? ({
                  ...ready,
                  events: [
                    ...ready.events,
                    { type: 'decided', txId: ready.messages[0]?.txId ?? '', decision: 'abort', from: node },
                  ],
                } as AnyReady)
              : ready,
        })
        scenario.transactions.forEach((tx, i) => {
          pump.begin(`t${i}`, tx.participants)
        })
        for (const [choice, pick] of scenario.steps) pump.chaosStep(choice, pick, false)
      }),
      { numRuns: 300, seed: 42 },
    )
    expect(result.failed).toBe(true)
    expect(String(result.errorInstance)).toMatch(/S5|S1/)
  })

  test('it catches a one-phase coordinator that confirms a commit its participant has not made durable (S2)', () => {
    // Broken coordinator: it sends commit to its one-phase participant along with the prepare.
    const pump = new Pump({
      participants: ['p1'],
      tamper: (node, ready) =>
        node === 'coord' && ready.messages.some((m) => m.type === 'prepare')
          ? {
              ...ready,
              messages: [
                ...ready.messages,
                { v: 2, type: 'commit', txId: 't', from: 'coord', to: 'p1' } as const,
              ],
            }
          : ready,
    })
    expect(() => pump.begin('t', ['p1'])).toThrow(
      /S2: coord confirmed the one-phase commit of t before outcome:t:commit was durable on p1/,
    )
  })

  test('it accepts a one-phase confirmation once the participant’s commit outcome is durable, and no other commit without a commit record', () => {
    const pump = new Pump({ participants: ['p1'] })
    pump.begin('t', ['p1'])
    pump.runInOrder()
    expect(pump.messages.filter((m) => m.type === 'commit')).toHaveLength(1)
    // Nothing but the incarnation record of its start: no commit record.
    expect(pump.records(C)).toEqual([started(C)])
    // The same commit to a participant of a two-phase transaction is not a confirmation.
    const twoPhase = new Pump({
      participants: ['p1', 'p2'],
      tamper: (node, ready) =>
        node === 'coord' ? { ...ready, records: ready.records.filter((r) => r.type !== 'commit') } : ready,
    })
    twoPhase.begin('t', ['p1', 'p2'])
    expect(() => twoPhase.runInOrder()).toThrow(/S2: coord sent commit for t before commit:t was durable/)
  })

  test('it catches a participant that asks its resource to prepare a transaction again after voting on it (S7)', () => {
    // Broken participant: when it learns the outcome, it also asks its resource to prepare again.
    const pump = new Pump({
      participants: ['p1', 'p2'],
      tamper: (node, ready) =>
        node === 'p1' && ready.requests.some((r) => r.type === 'commit')
          ? {
              ...ready,
              requests: [...ready.requests, { type: 'prepare', tx: ready.requests[0]?.tx ?? ({} as never) }],
            }
          : ready,
    })
    pump.begin('t', ['p1', 'p2'])
    expect(() => pump.runInOrder()).toThrow(
      /S7: resource of p1 was asked to prepare t again after a vote on it/,
    )
  })

  test('it loses the messages in flight to and from a crashed node only with crashLosesInFlight', () => {
    for (const crashLosesInFlight of [false, true]) {
      const pump = new Pump({ participants: ['p1', 'p2'], crashLosesInFlight })
      pump.begin('t', ['p1', 'p2'])
      pump.crash('p1')
      const left = pump.inFlight.map((m) => `${m.type} ${m.to}`)
      // (The prepares are probes: the coordinator does not know the incarnations yet.)
      expect(left, String(crashLosesInFlight)).toEqual(
        crashLosesInFlight ? ['prepare p2'] : ['prepare p1', 'prepare p2'],
      )
    }
  })

  test('it reports a run that does not terminate (L1)', () => {
    const pump = new Pump({ participants: ['p1', 'p2'] })
    pump.begin('t', ['p1', 'p2'])
    // The coordinator retransmits until it hears back, so 3 steps cannot reach quiescence.
    expect(() => pump.heal(3)).toThrow(/L1: no quiescence/)
  })
})
