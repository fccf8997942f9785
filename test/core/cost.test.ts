import { describe, expect, test } from 'vitest'
import type { LogRecord } from '../../src/core/records.js'
import type { NodeId, Vote } from '../../src/core/types.js'
import { C, describeMessage, started, TX } from './helpers.js'
import { type Executed, Pump } from './pump.js'

const ids = (n: number): NodeId[] => Array.from({ length: n }, (_, i) => `p${i + 1}`)

/** The warm-up transaction that precedes {@link TX}: the first contact, counted apart. */
const WARM_UP = 'warm-up'

/** Counts of messages by type, e.g. `{ prepare: 2, vote: 2, commit: 2, ack: 2 }`. */
function countByType(messages: readonly { readonly type: string }[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const message of messages) counts[message.type] = (counts[message.type] ?? 0) + 1
  return counts
}

/** Messages of some executed Readys. */
const messagesOf = (executed: readonly Executed[]) => executed.flatMap(({ ready }) => [...ready.messages])

/**
 * Runs {@link TX} over `participants` in order, after a warm-up transaction over the same
 * participants (all voting yes) in which the coordinator learned their incarnations: costs count
 * {@link TX} only, as it costs once the first contact is made. With `warm: false`, {@link TX} is
 * the first contact.
 */
function run(
  participants: readonly NodeId[],
  vote: (node: NodeId) => Vote = () => 'yes',
  { warm = true }: { readonly warm?: boolean } = {},
): Pump {
  const pump = new Pump({ participants, vote: (node, txId) => (txId === TX ? vote(node) : 'yes') })
  if (warm) pump.warmUp(WARM_UP)
  pump.begin(TX, participants)
  pump.runInOrder()
  return pump
}

/** The records a node appended for {@link TX} (after its start and the warm-up). */
function transactionRecords(pump: Pump, id: NodeId): LogRecord[] {
  return pump.recordsSinceWarmUp(id)
}

describe('the cost of starting, counted apart from the transactions', () => {
  test.each([1, 2, 5])(
    'starting a coordinator and %i participants on empty logs costs one forced incarnation record each (+1 forced write per node start), and no message',
    (n) => {
      const participants = ids(n)
      const pump = new Pump({ participants })
      expect(
        pump.started.map(({ node, ready }) => ({
          node,
          records: ready.records,
          forced: ready.forceRecords,
          messages: ready.messages.length,
        })),
      ).toEqual(
        [C, ...participants].map((node) => ({ node, records: [started(node)], forced: true, messages: 0 })),
      )
      expect(started(C)).toEqual({ type: 'incarnation', txId: '~inc:1', n: 1, node: C, role: 'coordinator' })
      // Nothing of the start is counted as the cost of a transaction.
      expect(pump.executed).toEqual([])
      expect(pump.messages).toEqual([])
      expect(pump.forcedReadys).toBe(0)
    },
  )
})

describe('exact cost of a transaction, driven purely through the cores', () => {
  test.each([2, 3, 5])(
    'a committed transaction with %i participants costs exactly 4N messages and 2N+1 forced writes',
    (n) => {
      const participants = ids(n)
      const pump = run(participants)
      expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
      expect(pump.messages).toHaveLength(4 * n)
      expect(countByType(pump.messages)).toEqual({ prepare: n, vote: n, commit: n, ack: n })
      // Every prepare is bound to its participant's incarnation: no probe, no refusal.
      expect(pump.messages.map(describeMessage).filter((m) => /probe|refused/.test(m))).toEqual([])
      expect(pump.forcedReadys).toBe(2 * n + 1)
      // One record per forced Ready on the participants, and the commit record: 2N+1 forced appends.
      const forcedAppends = pump.executed
        .filter(({ ready }) => ready.forceRecords)
        .reduce((sum, { ready }) => sum + ready.records.length, 0)
      expect(forcedAppends).toBe(2 * n + 1)
      expect(transactionRecords(pump, C)).toEqual([
        { type: 'commit', txId: TX, participants },
        { type: 'end', txId: TX },
      ])
      for (const id of participants) {
        expect(
          transactionRecords(pump, id).map((record) => record.type),
          id,
        ).toEqual(['prepared', 'outcome', 'end'])
        expect(pump.applied.get(`${id}/${TX}`), id).toEqual(new Set(['commit']))
      }
    },
  )

  test('the forced Readys are exactly: each prepared, the commit, each commit outcome', () => {
    const pump = run(ids(2))
    const forced = pump.executed
      .filter(({ ready }) => ready.forceRecords)
      .map(({ node, ready }) => `${node}: ${ready.records.map((r) => r.type).join('+')}`)
    expect(forced).toEqual(['p1: prepared', 'p2: prepared', 'coord: commit', 'p1: outcome', 'p2: outcome'])
  })

  test('a single participant commits in one phase: 3 messages (prepare, flagged vote, confirming commit), 1 forced append, no coordinator record', () => {
    const pump = run(['p1'])
    expect(pump.messages.map(describeMessage)).toEqual([
      'prepare(1pc) coord→p1',
      'vote:yes(1pc) p1→coord',
      'commit coord→p1',
    ])
    expect(pump.forcedReadys).toBe(1)
    // The participant's prepared and outcome records, in one forced Ready: one forced append.
    const forced = pump.executed.filter(({ ready }) => ready.forceRecords)
    expect(forced.map(({ node, ready }) => `${node}: ${ready.records.map((r) => r.type).join('+')}`)).toEqual(
      ['p1: prepared+outcome'],
    )
    expect(transactionRecords(pump, C)).toEqual([])
    expect(transactionRecords(pump, 'p1').map((record) => record.type)).toEqual([
      'prepared',
      'outcome',
      'end',
    ])
    expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
    expect(pump.participant('p1').inFlight).toBe(0)
  })

  test('a single participant that votes no aborts in one phase: 3 messages (prepare, flagged no, confirming abort), no coordinator record', () => {
    const pump = run(['p1'], () => 'no')
    expect(pump.messages.map(describeMessage)).toEqual([
      'prepare(1pc) coord→p1',
      'vote:no(1pc) p1→coord',
      'abort coord→p1',
    ])
    expect(pump.forcedReadys).toBe(1) // the outcome: the no is the outcome
    expect(transactionRecords(pump, C)).toEqual([])
    expect(transactionRecords(pump, 'p1').map((record) => record.type)).toEqual(['outcome', 'end'])
    expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'abort' })
    expect(pump.participant('p1').inFlight).toBe(0)
  })

  test('a single participant that votes read-only costs 2 messages and nothing else: there is nothing to confirm', () => {
    const pump = run(['p1'], () => 'read-only')
    expect(pump.messages.map(describeMessage)).toEqual([
      'prepare(1pc) coord→p1',
      'vote:read-only(1pc) p1→coord',
    ])
    expect(pump.forcedReadys).toBe(0)
    expect(transactionRecords(pump, C)).toEqual([])
    expect(transactionRecords(pump, 'p1')).toEqual([])
    expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
  })

  test.each([2, 3, 5])(
    'a transaction of %i participants aborted by one no vote writes no coordinator record and gets no ack',
    (n) => {
      const participants = ids(n)
      const pump = run(participants, (node) => (node === 'p2' ? 'no' : 'yes'))
      expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'abort' })
      expect(transactionRecords(pump, C)).toEqual([])
      const counts = countByType(pump.messages)
      expect(counts.ack).toBeUndefined()
      expect(counts.commit).toBeUndefined()
      // Everyone but the no voter is told; the no voter aborted on its own.
      expect(counts).toEqual({ prepare: n, vote: n, abort: n - 1 })
      expect(pump.forcedReadys).toBe(n - 1) // the prepared records of the yes voters
      for (const id of participants) expect(pump.applied.get(`${id}/${TX}`), id).toEqual(new Set(['abort']))
    },
  )

  test('a read-only participant costs exactly 2 messages (prepare and vote) and gets no phase 2', () => {
    const participants = ['p1', 'p2', 'p3']
    const pump = run(participants, (node) => (node === 'p3' ? 'read-only' : 'yes'))
    const involving = pump.messages.filter((message) => message.from === 'p3' || message.to === 'p3')
    expect(involving.map(describeMessage)).toEqual(['prepare coord→p3', 'vote:read-only p3→coord'])
    expect(pump.messages).toHaveLength(4 * 2 + 2)
    expect(transactionRecords(pump, C)).toEqual([
      { type: 'commit', txId: TX, participants: ['p1', 'p2'] },
      { type: 'end', txId: TX },
    ])
    expect(transactionRecords(pump, 'p3')).toEqual([])
    expect(pump.executed.filter(({ node, ready }) => node === 'p3' && ready.forceRecords)).toEqual([])
    expect(pump.applied.get(`p3/${TX}`)).toBeUndefined()
  })

  test('a read-only participant writes no record at all, from its first read-only vote on', () => {
    // DESIGN.md: "Read-only vote: the participant logs nothing". The only record in its log is the
    // incarnation record of its start, which is not a cost of any transaction. The first
    // transaction is the first contact: p2 refuses the probe first (which writes nothing either).
    const pump = new Pump({
      participants: ['p1', 'p2'],
      vote: (node) => (node === 'p2' ? 'read-only' : 'yes'),
    })
    for (const txId of ['first', 'second']) {
      pump.begin(txId, ['p1', 'p2'])
      pump.runInOrder()
    }
    expect(pump.records('p2')).toEqual([started('p2')])
    const p2 = pump.executed.filter(({ node }) => node === 'p2')
    expect(p2.length).toBeGreaterThan(0)
    expect(p2.flatMap(({ ready }) => ready.records)).toEqual([])
    expect(p2.filter(({ ready }) => ready.forceRecords)).toEqual([])
    expect(p2.flatMap(({ ready }) => ready.messages).map(describeMessage)).toEqual([
      'vote:refused p2→coord',
      'vote:read-only p2→coord',
      'vote:read-only p2→coord',
    ])
  })

  test('when every participant votes read-only, the transaction costs 2N messages and no coordinator record', () => {
    const pump = run(ids(3), () => 'read-only')
    expect(countByType(pump.messages)).toEqual({ prepare: 3, vote: 3 })
    expect(transactionRecords(pump, C)).toEqual([])
    for (const id of ids(3)) expect(transactionRecords(pump, id), id).toEqual([])
    expect(pump.forcedReadys).toBe(0)
    expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
  })
})

describe('the cost of the first contact between a coordinator life and its participants (protocol v2)', () => {
  // A coordinator that does not know a participant's incarnation (every fresh coordinator, and
  // after each of its restarts) probes it: the participant refuses the prepare bound to no life,
  // telling its incarnation, and the coordinator asks again bound to it. 2 more messages per
  // participant, and no more writes; later transactions cost exactly what they did before.

  test.each([2, 3, 5])(
    'a first committed transaction with %i participants costs 4N + 2N messages (a probe and its refusal each) and 2N+1 forced writes',
    (n) => {
      const participants = ids(n)
      const pump = run(participants, () => 'yes', { warm: false })
      expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
      expect(pump.messages).toHaveLength(4 * n + 2 * n)
      expect(countByType(pump.messages)).toEqual({ prepare: 2 * n, vote: 2 * n, commit: n, ack: n })
      for (const id of participants) {
        const involving = pump.messages.filter((m) => m.from === id || m.to === id).map(describeMessage)
        expect(involving, id).toEqual([
          `prepare(probe) coord→${id}`,
          `vote:refused ${id}→coord`,
          `prepare coord→${id}`,
          `vote:yes ${id}→coord`,
          `commit coord→${id}`,
          `ack ${id}→coord`,
        ])
      }
      expect(pump.forcedReadys).toBe(2 * n + 1)
      // A refusal writes nothing: the records are those of any committed transaction.
      expect(pump.records(C)).toEqual([
        started(C),
        { type: 'commit', txId: TX, participants },
        { type: 'end', txId: TX },
      ])
      for (const id of participants)
        expect(
          pump.records(id).map((record) => record.type),
          id,
        ).toEqual(['incarnation', 'prepared', 'outcome', 'end'])
    },
  )

  test.each([2, 3, 5])(
    'the warm-up of %i participants is that first contact, and the next transaction costs exactly 4N messages',
    (n) => {
      const pump = run(ids(n))
      const warmUp = messagesOf(pump.warmedUp)
      expect(warmUp).toHaveLength(6 * n)
      expect(warmUp.map(describeMessage).filter((m) => m.includes('probe'))).toHaveLength(n)
      expect(warmUp.map(describeMessage).filter((m) => m.startsWith('vote:refused'))).toHaveLength(n)
      expect(pump.messages).toHaveLength(4 * n)
    },
  )

  test('a single participant’s first one-phase transaction costs 5 messages: probe, refusal, prepare, flagged vote, confirming commit', () => {
    const pump = run(['p1'], () => 'yes', { warm: false })
    expect(pump.messages.map(describeMessage)).toEqual([
      'prepare(1pc,probe) coord→p1',
      'vote:refused p1→coord',
      'prepare(1pc) coord→p1',
      'vote:yes(1pc) p1→coord',
      'commit coord→p1',
    ])
    expect(pump.forcedReadys).toBe(1)
    expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
  })

  test('a coordinator restart makes the next transaction a first contact again', () => {
    const pump = run(ids(2))
    expect(pump.messages).toHaveLength(8)
    pump.flush(C) // its lazy end records too: nothing to resume after the restart
    pump.crash(C)
    expect(pump.executed.at(-1)?.ready.records).toEqual([
      { type: 'incarnation', txId: '~inc:2', n: 2, node: C, role: 'coordinator' },
      { type: 'end', txId: '~inc:1' },
    ])
    pump.executed.splice(0)
    pump.begin('after-restart', ids(2))
    pump.runInOrder()
    expect(pump.coordinator.status('after-restart')).toEqual({ state: 'finished', decision: 'commit' })
    expect(pump.messages).toHaveLength(4 * 2 + 2 * 2)
    expect(pump.messages.map(describeMessage).filter((m) => /probe|refused/.test(m))).toEqual([
      'prepare(probe) coord→p1',
      'prepare(probe) coord→p2',
      'vote:refused p1→coord',
      'vote:refused p2→coord',
    ])
  })
})
