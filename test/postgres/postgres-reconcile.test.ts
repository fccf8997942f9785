import { describe, expect, it } from 'vitest'
import { classifyPrepared, loggedTxIds } from '../../src/adapters/postgres-reconcile.js'
import type { LogRecord } from '../../src/index.js'
import { encodeGid } from '../../src/postgres.js'

const at = new Date(0)
const prepared = (txId: string): LogRecord => ({
  type: 'prepared',
  txId,
  coordinator: 'coord',
  participants: ['a', 'b'],
  payload: null,
  onePhase: false,
})

describe('reconciling pg_prepared_xacts with the participant log', () => {
  it('leaves voted transactions to the protocol, calls the rest orphans, and ignores other prefixes', () => {
    const hashed = 'ü'.repeat(100)
    const found = [
      { gid: 'a:voted', preparedAt: at },
      { gid: encodeGid('a', hashed), preparedAt: at },
      { gid: 'a:crashed-before-logging', preparedAt: at },
      { gid: encodeGid('a', 'ü'), preparedAt: at },
      { gid: 'a-other:voted', preparedAt: at },
      { gid: 'b:voted', preparedAt: at },
    ]
    const records: LogRecord[] = [
      prepared('voted'),
      prepared(hashed),
      { type: 'outcome', txId: 'aborted-before-voting', decision: 'abort' },
    ]
    expect(classifyPrepared('a', found, records)).toEqual({
      leftToProtocol: [
        { gid: 'a:voted', txId: 'voted', preparedAt: at },
        { gid: encodeGid('a', hashed), txId: hashed, preparedAt: at },
      ],
      orphans: [
        { gid: 'a:crashed-before-logging', txId: 'crashed-before-logging', preparedAt: at },
        { gid: encodeGid('a', 'ü'), preparedAt: at },
      ],
    })
  })

  it('keeps bookkeeping for every transaction the log still holds', () => {
    const records: LogRecord[] = [
      prepared('t1'),
      { type: 'outcome', txId: 't1', decision: 'commit' },
      { type: 'outcome', txId: 't2', decision: 'abort' },
    ]
    expect(loggedTxIds(records)).toEqual(['t1', 't2'])
  })
})
