import { describe, expect, test } from 'vitest'
import { PROTOCOL_VERSION } from '../../src/core/messages.js'
import type { Ready } from '../../src/core/ready.js'
import { checkModel } from '../../src/testing/model-checker.js'
import { simulate } from '../../src/testing/simulator.js'
import { assertWellFormed } from '../../src/testing/well-formed.js'

const NONE = { records: [], forceRecords: false, messages: [], timers: [], requests: [], events: [] }
const vote = {
  v: PROTOCOL_VERSION,
  type: 'vote',
  txId: 't1',
  from: 'p1',
  to: 'coord',
  vote: 'yes',
  inc: 1,
} as const
const prepared = {
  type: 'prepared',
  txId: 't1',
  coordinator: 'coord',
  participants: ['p1', 'p2'],
  payload: { amount: 5 },
  onePhase: false,
} as const

function ready(parts: Partial<Ready<unknown>>): Ready<unknown> {
  return { ...NONE, ...parts }
}

describe('assertWellFormed (what lets the runtime seal what the cores build without checking it)', () => {
  test('accepts what parseMessage and parseRecord give back unchanged, whatever the key order', () => {
    const reordered = {
      to: 'coord',
      inc: 1,
      vote: 'yes',
      from: 'p1',
      txId: 't1',
      type: 'vote',
      v: 2,
    } as const
    expect(() =>
      assertWellFormed('p1', ready({ messages: [vote, reordered], records: [prepared] })),
    ).not.toThrow()
  })

  test.each([
    [
      'a field out of range',
      ready({ messages: [{ ...vote, inc: 0 }] }),
      /INVALID_MESSAGE|p1 built an invalid message/,
    ],
    [
      'a field the wire drops',
      ready({ messages: [{ ...vote, note: 'x' } as never] }),
      /fields the wire does not carry/,
    ],
    [
      'an invalid record',
      ready({ records: [{ ...prepared, participants: ['p1', 'p1'] }] }),
      /p1 built an invalid record/,
    ],
  ])('refuses %s, naming the node', (_, built, error) => {
    expect(() => assertWellFormed('p1', built)).toThrow(error)
  })

  test('the simulator and the model checker run it: a participant whose votes carry incarnation 0 is caught', () => {
    expect(() => simulate({ seed: 1, mutant: 'ill-formed-vote' })).toThrow(/built an invalid message/)
    expect(() =>
      checkModel({ name: 'ill-formed vote', participants: 2, crashes: 0, mutant: 'ill-formed-vote' }),
    ).toThrow(/built an invalid message/)
    expect(() => simulate({ seed: 1 })).not.toThrow()
  })
})
