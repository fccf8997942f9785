import { describe, expect, test } from 'vitest'
import {
  C,
  CREATED_V1,
  coordinator,
  incarnation,
  incarnationEnd,
  P1,
  P2,
  participant,
  thrownBy,
} from './helpers.js'

/**
 * Every incarnation record names the node that wrote it (id and role), and a core refuses to
 * recover from a log that names another owner: a wrong log path must stop the node, not make it
 * answer for another node's transactions.
 */
describe('a log remembers its owner', () => {
  test('a participant recovering another participant’s log throws LOG_OWNER_MISMATCH naming both', () => {
    const error = thrownBy(() => participant(P2).recover([incarnation(1, P1)]))
    expect(error.code).toBe('LOG_OWNER_MISMATCH')
    expect(error.message).toBe(
      'Log belongs to participant p1; this node is participant p2: check the log path',
    )
  })

  test('a participant recovering a coordinator’s log throws LOG_OWNER_MISMATCH, before reading its commit records', () => {
    const log = [incarnation(1, C), { type: 'commit' as const, txId: 't', participants: [P1] }]
    const error = thrownBy(() => participant(P1).recover(log))
    expect(error.code).toBe('LOG_OWNER_MISMATCH')
    expect(error.message).toBe(
      'Log belongs to coordinator coord; this node is participant p1: check the log path',
    )
  })

  test('a coordinator recovering a participant’s log throws LOG_OWNER_MISMATCH', () => {
    const error = thrownBy(() => coordinator().recover([incarnation(2, P1), incarnationEnd(1)]))
    expect(error.code).toBe('LOG_OWNER_MISMATCH')
    expect(error.message).toBe(
      'Log belongs to participant p1; this node is coordinator coord: check the log path',
    )
  })

  test('a node with the same id in the other role is another owner', () => {
    // A coordinator and a participant may share an id on different hosts; their logs may not.
    const coordinatorNamedP1 = {
      type: 'incarnation' as const,
      txId: '~inc:1',
      n: 1,
      node: P1,
      role: 'coordinator' as const,
    }
    expect(thrownBy(() => participant(P1).recover([coordinatorNamedP1])).code).toBe('LOG_OWNER_MISMATCH')
  })

  test('any incarnation record of another owner is refused, even after records of this node', () => {
    const error = thrownBy(() => participant(P1).recover([incarnation(1, P1), incarnation(2, P2)]))
    expect(error.message).toBe(
      'Log belongs to participant p2; this node is participant p1: check the log path',
    )
  })

  test('its own log, an empty log and a version-1 log (no owner recorded) recover and record the owner', () => {
    expect(participant(P1).recover([incarnation(1, P1)]).records[0]).toEqual(incarnation(2, P1))
    expect(participant(P1).recover([]).records).toEqual([incarnation(1, P1)])
    expect(participant(P1).recover([CREATED_V1]).records).toEqual([incarnation(1, P1)])
    expect(coordinator().recover([incarnation(1, C)]).records[0]).toEqual(incarnation(2, C))
  })
})
