/**
 * Late review of 25e8cf6 (FieldReader.idList shares a frozen input array instead of copying it).
 * Validation used to hand back a plain copy of the ids it checked; now any frozen array is kept as
 * is, with its prototype and own properties. A frozen Array subclass (or an array with an own
 * `includes`) passes validation and then answers `includes` as it likes: a participant reads
 * `participants.includes(this.id)` to refuse a prepare it is not part of, and the coordinator's
 * recovered `commit` record's list is shared the same way. The previous behaviour (a plain copy,
 * fixed at validation) is what these tests expect.
 */
import { describe, expect, it } from 'vitest'
import { parseMessage, parseRecord } from '../../src/index.js'

class LyingIds extends Array<string> {
  override includes(): boolean {
    return true
  }
}

function frozenLyingIds(...ids: string[]): string[] {
  const list = LyingIds.from(ids) as unknown as string[]
  return Object.freeze(list) as string[]
}

describe('idList of a frozen, non-plain array', () => {
  it('parseMessage returns the prepare participants as a plain array of the ids it checked', () => {
    const participants = frozenLyingIds('p2', 'p3')
    const message = parseMessage({
      v: 2,
      type: 'prepare',
      txId: 'tx-1',
      from: 'c',
      to: 'p1',
      payload: null,
      participants,
      onePhase: false,
      inc: 1,
      epoch: 1,
      seq: 1,
    })
    if (message.type !== 'prepare') throw new Error('expected a prepare')
    expect(Object.getPrototypeOf(message.participants)).toBe(Array.prototype)
    expect(message.participants.includes('p1')).toBe(false)
  })

  it('parseRecord returns the commit record participants as a plain array of the ids it checked', () => {
    const record = parseRecord({ type: 'commit', txId: 'tx-1', participants: frozenLyingIds('p2', 'p3') })
    if (record.type !== 'commit') throw new Error('expected a commit record')
    expect(Object.getPrototypeOf(record.participants)).toBe(Array.prototype)
    expect(record.participants.includes('p1')).toBe(false)
  })
})
