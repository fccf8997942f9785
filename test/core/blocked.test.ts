import { describe, expect, test } from 'vitest'
import type { ParticipantCore } from '../../src/core/participant.js'
import type { LogRecord } from '../../src/core/records.js'
import {
  C,
  COOPERATIVE_MS,
  deliver,
  msg,
  P1,
  P2,
  participant,
  participantIn,
  RETRANSMIT_MS,
  STARTED,
  TX,
} from './helpers.js'

/** Fires p1's decision-request timer of {@link TX} `times` times; the events of each firing, by type. */
function askRepeatedly(core: ParticipantCore, times: number) {
  const fired: { events: string[]; blocked: unknown[] }[] = []
  for (let i = 0; i < times; i += 1) {
    const ready = core.step({ type: 'timer', txId: TX, timer: 'decision-request' })
    fired.push({
      events: ready.events.map((event) => event.type),
      blocked: ready.events.filter((event) => event.type === 'blocked'),
    })
  }
  return fired
}

/**
 * `blocked` is the alert an operator acts on: in doubt for longer than cooperative termination
 * allows. Timings of the helpers: decision requests 75, 225, 525, 1125, 1875, 2625 ms after the
 * vote (100 ms doubling, capped at 1000, times 0.75); cooperativeTerminationAfterMs 1000.
 */
describe('the blocked event', () => {
  test('is emitted once, at the first request one retransmission interval after the peers were first asked', () => {
    const { core } = participantIn('prepared')
    const fired = askRepeatedly(core, 8)
    expect(fired.map((f) => f.events)).toEqual([['in-doubt'], [], [], [], ['blocked'], [], [], []])
    // The 4th request (1125 ms ≥ 1000) asked the peers; the 5th (1875 ms) found no answer.
    expect(fired[4]?.blocked).toEqual([
      { type: 'blocked', txId: TX, coordinator: C, participants: [P1, P2], waitedMs: 1875 },
    ])
    expect(COOPERATIVE_MS).toBe(1000)
  })

  test('with cooperative termination from the first request, it follows one retransmission interval later', () => {
    const { core } = participantIn('prepared', { cooperativeTerminationAfterMs: 1 })
    const fired = askRepeatedly(core, 3)
    expect(fired.map((f) => f.events)).toEqual([['in-doubt'], ['blocked'], []])
    // Peers asked at 75 ms, blocked at 225 ms: 150 ms ≥ retransmitIntervalMs (100).
    expect(fired[1]?.blocked).toMatchObject([{ waitedMs: 225 }])
    expect(RETRANSMIT_MS).toBe(100)
  })

  test('is never emitted when a peer tells the outcome after the peers were asked', () => {
    const { core } = participantIn('prepared')
    expect(askRepeatedly(core, 4).flatMap((f) => f.events)).toEqual(['in-doubt'])
    const told = core.step(deliver(msg.commit({ from: P2 })))
    expect(told.events.map((event) => event.type)).toContain('decided')
    expect(askRepeatedly(core, 4).flatMap((f) => f.events)).not.toContain('blocked')
  })

  test('is never emitted when the coordinator answers before cooperative termination', () => {
    const { core } = participantIn('prepared')
    askRepeatedly(core, 3)
    core.step(deliver(msg.abort()))
    expect(askRepeatedly(core, 6).flatMap((f) => f.events)).not.toContain('blocked')
  })

  test('a restarted participant still in doubt reports it blocked again, once', () => {
    const prepared: LogRecord = {
      type: 'prepared',
      txId: TX,
      coordinator: C,
      participants: [P1, P2],
      payload: null,
      onePhase: false,
    }
    const core = participant(P1)
    expect(core.recover([STARTED, prepared]).events.map((event) => event.type)).toEqual(['in-doubt'])
    const events = askRepeatedly(core, 10).flatMap((f) => f.events)
    expect(events).toEqual(['blocked'])
  })
})
