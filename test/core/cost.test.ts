import { describe, expect, test } from 'vitest'
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
      expect(pump.records(C)).toEqual([
        { type: 'commit', txId: TX, participants },
        { type: 'end', txId: TX },
      ])
      for (const id of participants) {
        expect(
          pump.records(id).map((record) => record.type),
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

  test('a single participant commits in one phase: 2 messages, 1 forced Ready, no coordinator record', () => {
    const pump = run(['p1'])
    expect(pump.messages.map(describeMessage)).toEqual(['prepare(1pc) coord→p1', 'vote:yes p1→coord'])
    expect(pump.forcedReadys).toBe(1)
    expect(pump.records(C)).toEqual([])
    expect(pump.records('p1').map((record) => record.type)).toEqual(['prepared', 'outcome', 'end'])
    expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
  })

  test('a single participant that votes no aborts in one phase: 2 messages, no coordinator record', () => {
    const pump = run(['p1'], () => 'no')
    expect(pump.messages.map(describeMessage)).toEqual(['prepare(1pc) coord→p1', 'vote:no p1→coord'])
    expect(pump.records(C)).toEqual([])
    expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'abort' })
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
    expect(pump.applied.get(`p3/${TX}`)).toBeUndefined()
  })

  test('a read-only participant writes no transaction record; at most the once-per-log read-only-voter marker', () => {
    // DESIGN.md: "Read-only vote: the participant logs nothing". The core also writes, once per
    // log, a `read-only-voter` marker (so that after a restart it knows it may have forgotten a
    // read-only vote); from the second read-only vote on, nothing at all is written.
    const pump = new Pump({
      participants: ['p1', 'p2'],
      vote: (node) => (node === 'p2' ? 'read-only' : 'yes'),
    })
    pump.begin('first', ['p1', 'p2'])
    pump.runInOrder()
    expect(pump.records('p2').filter((record) => record.type !== 'read-only-voter')).toEqual([])
    expect(pump.records('p2').length).toBeLessThanOrEqual(1)
    const before = pump.records('p2').length
    const readiesBefore = pump.executed.length
    pump.begin('second', ['p1', 'p2'])
    pump.runInOrder()
    expect(pump.records('p2')).toHaveLength(before)
    const p2Forced = pump.executed
      .slice(readiesBefore)
      .filter(({ node, ready }) => node === 'p2' && ready.forceRecords)
    expect(p2Forced).toEqual([])
  })

  test('when every participant votes read-only, the transaction costs 2N messages and no coordinator record', () => {
    const pump = run(ids(3), () => 'read-only')
    expect(countByType(pump)).toEqual({ prepare: 3, vote: 3 })
    expect(pump.records(C)).toEqual([])
    expect(pump.coordinator.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
  })
})
