import { describe, expect, test } from 'vitest'
import { CREATED_RECORD_TX_ID, type LogRecord } from '../../src/core/records.js'
import type { NodeId, Vote } from '../../src/core/types.js'
import { C, describeMessage, TX } from './helpers.js'
import { Pump } from './pump.js'

const ids = (n: number): NodeId[] => Array.from({ length: n }, (_, i) => `p${i + 1}`)

/** Counts of messages by type, e.g. `{ prepare: 2, vote: 2, commit: 2, ack: 2 }`. */
function countByType(pump: Pump): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const message of pump.messages) counts[message.type] = (counts[message.type] ?? 0) + 1
  return counts
}

function run(participants: readonly NodeId[], vote: (node: NodeId) => Vote = () => 'yes'): Pump {
  const pump = new Pump({ participants, vote })
  pump.begin(TX, participants)
  pump.runInOrder()
  return pump
}

/** A participant's log after its start: the `created` record forced by `recover([])`. */
const CREATED = { type: 'created', txId: '~log' } as const

/** The records a node appended after its start (a participant's log minus the leading `created` record). */
function transactionRecords(pump: Pump, id: NodeId): LogRecord[] {
  const records = pump.records(id)
  if (id === C) return records
  expect(records[0], id).toEqual(CREATED)
  return records.slice(1)
}

describe('the cost of starting, counted apart from the transactions', () => {
  test.each([1, 2, 5])(
    'starting %i participants on empty logs costs one forced created record each, and no message',
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
      ).toEqual([
        { node: C, records: [], forced: false, messages: 0 },
        ...participants.map((node) => ({ node, records: [CREATED], forced: true, messages: 0 })),
      ])
      expect(CREATED.txId).toBe(CREATED_RECORD_TX_ID)
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
      expect(countByType(pump)).toEqual({ prepare: n, vote: n, commit: n, ack: n })
      expect(pump.forcedReadys).toBe(2 * n + 1)
      // One record per forced Ready on the participants, and the commit record: 2N+1 forced appends.
      const forcedAppends = pump.executed
        .filter(({ ready }) => ready.forceRecords)
        .reduce((sum, { ready }) => sum + ready.records.length, 0)
      expect(forcedAppends).toBe(2 * n + 1)
      expect(pump.records(C)).toEqual([
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
    expect(pump.records(C)).toEqual([])
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
    expect(pump.records(C)).toEqual([])
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
    expect(pump.records(C)).toEqual([])
    expect(transactionRecords(pump, 'p1')).toEqual([])
    expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
  })

  test.each([2, 3, 5])(
    'a transaction of %i participants aborted by one no vote writes no coordinator record and gets no ack',
    (n) => {
      const participants = ids(n)
      const pump = run(participants, (node) => (node === 'p2' ? 'no' : 'yes'))
      expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'abort' })
      expect(pump.records(C)).toEqual([])
      const counts = countByType(pump)
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
    expect(pump.records(C)).toEqual([
      { type: 'commit', txId: TX, participants: ['p1', 'p2'] },
      { type: 'end', txId: TX },
    ])
    expect(transactionRecords(pump, 'p3')).toEqual([])
    expect(pump.executed.filter(({ node, ready }) => node === 'p3' && ready.forceRecords)).toEqual([])
    expect(pump.applied.get(`p3/${TX}`)).toBeUndefined()
  })

  test('a read-only participant writes no record at all, from its first read-only vote on', () => {
    // DESIGN.md: "Read-only vote: the participant logs nothing". The only record in its log is the
    // `created` record of its start, which is not a cost of any transaction.
    const pump = new Pump({
      participants: ['p1', 'p2'],
      vote: (node) => (node === 'p2' ? 'read-only' : 'yes'),
    })
    for (const txId of ['first', 'second']) {
      pump.begin(txId, ['p1', 'p2'])
      pump.runInOrder()
    }
    expect(pump.records('p2')).toEqual([CREATED])
    const p2 = pump.executed.filter(({ node }) => node === 'p2')
    expect(p2.length).toBeGreaterThan(0)
    expect(p2.flatMap(({ ready }) => ready.records)).toEqual([])
    expect(p2.filter(({ ready }) => ready.forceRecords)).toEqual([])
    expect(p2.flatMap(({ ready }) => ready.messages).map(describeMessage)).toEqual([
      'vote:read-only p2→coord',
      'vote:read-only p2→coord',
    ])
  })

  test('when every participant votes read-only, the transaction costs 2N messages and no coordinator record', () => {
    const pump = run(ids(3), () => 'read-only')
    expect(countByType(pump)).toEqual({ prepare: 3, vote: 3 })
    expect(pump.records(C)).toEqual([])
    for (const id of ids(3)) expect(transactionRecords(pump, id), id).toEqual([])
    expect(pump.forcedReadys).toBe(0)
    expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
  })
})
