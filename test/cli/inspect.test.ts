import { describe, expect, it } from 'vitest'
import type { LogEntry } from '../../src/adapters/file-log-format.js'
import { DEFAULT_RECENT, inspectLog } from '../../src/cli/inspect.js'
import { formatReport } from '../../src/cli/inspect-table.js'
import type { LogRecord } from '../../src/core/records.js'

const record = (value: LogRecord): LogEntry => ({ type: 'record', record: value })
const forget = (txId: string): LogEntry => ({ type: 'forget', txId })
const life = (n: number, node: string, role: 'coordinator' | 'participant'): LogEntry =>
  record({ type: 'incarnation', txId: `~inc:${n}`, n, node, role })
const lifeEnd = (n: number): LogEntry => record({ type: 'end', txId: `~inc:${n}` })
const prepared = (txId: string, onePhase = false): LogEntry =>
  record({
    type: 'prepared',
    txId,
    coordinator: 'coord',
    participants: ['bank-a', 'bank-b'],
    payload: 1,
    onePhase,
  })
const outcome = (txId: string, decision: 'commit' | 'abort', heuristic?: string): LogEntry =>
  record(
    heuristic === undefined
      ? { type: 'outcome', txId, decision }
      : { type: 'outcome', txId, decision, heuristic },
  )
const commit = (txId: string): LogEntry =>
  record({ type: 'commit', txId, participants: ['bank-a', 'bank-b'] })
const end = (txId: string): LogEntry => record({ type: 'end', txId })

describe('inspectLog: a participant’s log', () => {
  const entries = [
    life(1, 'bank-a', 'participant'),
    ...[prepared('t1'), outcome('t1', 'commit'), end('t1'), forget('t1')],
    prepared('t2'),
    ...[prepared('t3'), outcome('t3', 'abort')],
    ...[prepared('t4'), outcome('t4', 'commit', 'checked by hand')],
    ...[prepared('t5', true)],
    ...[prepared('t6'), outcome('t6', 'abort'), end('t6')],
    outcome('pinned', 'abort'),
    ...[life(2, 'bank-a', 'participant'), lifeEnd(1)],
  ]
  const report = inspectLog(entries, 7)

  it('names the owner from its latest incarnation record', () => {
    expect(report.owner).toEqual({ node: 'bank-a', role: 'participant', life: 2 })
  })

  it('sorts unfinished transactions as a restart would recover them', () => {
    expect(report.inDoubt).toEqual([
      { txId: 't2', coordinator: 'coord', participants: ['bank-a', 'bank-b'], onePhase: false },
      { txId: 't5', coordinator: 'coord', participants: ['bank-a', 'bank-b'], onePhase: true },
    ])
    expect(report.applying).toEqual([{ txId: 't3', decision: 'abort' }])
    expect(report.heuristic).toEqual([{ txId: 't4', decision: 'commit', reason: 'checked by hand' }])
    expect(report.committing).toEqual([])
  })

  it('lists finished transactions still in the file, forgotten or not, oldest first, with their decision', () => {
    expect(report.recent).toEqual([
      { txId: 't1', decision: 'commit' },
      { txId: 't6', decision: 'abort' },
    ])
    expect(report.finished).toBe(2)
  })

  it('counts frames, live records (forget notes applied) and the tail', () => {
    expect(report.frames).toBe(entries.length)
    // t1's three records and its note are gone; the `~inc:1` record is still live (only compaction drops it).
    expect(report.liveRecords).toBe(entries.length - 4)
    expect(report.tailBytes).toBe(7)
  })

  it('renders the participant’s tables, without the coordinator’s', () => {
    expect(formatReport('/var/lib/bank-a.log', report)).toBe(
      [
        'Log     /var/lib/bank-a.log',
        'Owner   participant bank-a, life 2',
        `Frames  ${entries.length} (${entries.length - 4} live records); tail being written: 7 bytes`,
        '',
        'In doubt (prepared, outcome unknown): 2',
        '  txId  coordinator  participants    phases',
        '  t2    coord        bank-a, bank-b  two',
        '  t5    coord        bank-a, bank-b  one (aborts at restart)',
        '',
        'Applying (outcome known, not applied yet): 1',
        '  txId  decision',
        '  t3    abort',
        '',
        'Heuristic (outcome taken by hand, unconfirmed): 1',
        '  txId  decision  reason',
        '  t4    commit    checked by hand',
        '',
        'Recent (the last of 2 finished transactions still in the file): 2',
        '  txId  decision',
        '  t1    commit',
        '  t6    abort',
        '',
      ].join('\n'),
    )
  })
})

describe('inspectLog: a coordinator’s log', () => {
  it('lists commits without end as committing, with their participants', () => {
    const report = inspectLog(
      [life(1, 'coord', 'coordinator'), commit('a'), commit('b'), end('a'), forget('a'), commit('c')],
      0,
    )
    expect(report.owner).toEqual({ node: 'coord', role: 'coordinator', life: 1 })
    expect(report.committing).toEqual([
      { txId: 'b', participants: ['bank-a', 'bank-b'] },
      { txId: 'c', participants: ['bank-a', 'bank-b'] },
    ])
    expect(report.recent).toEqual([{ txId: 'a', decision: 'commit' }])
    const table = formatReport('coord.log', report)
    expect(table).toContain(
      'Committing (commit decided, acks missing): 2\n  txId  participants\n  b     bank-a, bank-b\n',
    )
    expect(table).not.toContain('In doubt')
    expect(table).toContain('Frames  6 (3 live records)\n')
  })
})

describe('inspectLog: limits and unknown owners', () => {
  it(`keeps the last ${DEFAULT_RECENT} finished transactions by default, the last K with recent = K, none with 0`, () => {
    const entries = [life(1, 'coord', 'coordinator')]
    for (let i = 0; i < 30; i += 1) entries.push(commit(`t${i}`), end(`t${i}`))
    const ids = (recent?: number) => inspectLog(entries, 0, recent).recent.map((tx) => tx.txId)
    expect(ids()).toEqual(Array.from({ length: 20 }, (_, i) => `t${i + 10}`))
    expect(ids(3)).toEqual(['t27', 't28', 't29'])
    expect(ids(0)).toEqual([])
    expect(inspectLog(entries, 0, 3).finished).toBe(30)
  })

  it('a finished transaction with no decision in the file shows none', () => {
    const report = inspectLog([life(1, 'bank-a', 'participant'), prepared('t'), end('t')], 0)
    expect(report.recent).toEqual([{ txId: 't', decision: undefined }])
    expect(formatReport('x', report)).toContain('  t     -\n')
  })

  it('an empty or a version-1 log has no owner, and shows every table', () => {
    for (const entries of [[], [record({ type: 'created', txId: '~log' })]]) {
      const report = inspectLog(entries, 0)
      expect(report.owner).toBeUndefined()
      const table = formatReport('old.log', report)
      expect(table).toContain('Owner   unknown (no incarnation record: an empty or a version-1 log)\n')
      expect(table).toContain('Committing (commit decided, acks missing): 0\n')
      expect(table).toContain('In doubt (prepared, outcome unknown): 0\n')
    }
  })
})
