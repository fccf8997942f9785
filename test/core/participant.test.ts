import { describe, expect, test } from 'vitest'
import type { Message } from '../../src/core/messages.js'
import { ParticipantCore } from '../../src/core/participant.js'
import type { DropReason, Ready } from '../../src/core/ready.js'
import { CREATED_RECORD_TX_ID, type LogRecord } from '../../src/core/records.js'
import {
  C,
  COOPERATIVE_MS,
  CREATED_V1,
  deliver,
  describeMessage,
  drops,
  expectDropped,
  expectedDelayMs,
  expectNothing,
  incarnation,
  incarnationEnd,
  msg,
  P1,
  P2,
  P3,
  type ParticipantState,
  participant,
  participantIn,
  random,
  requests,
  STARTED,
  sent,
  startedParticipant,
  TX,
  thrownBy,
  timers,
  written,
} from './helpers.js'

const EVIL = 'another-coordinator'

const prepared = (onePhase = false, txId = TX): LogRecord => ({
  type: 'prepared',
  txId,
  coordinator: C,
  participants: onePhase ? [P1] : [P1, P2],
  payload: { work: P1 },
  onePhase,
})
const outcome = (decision: 'commit' | 'abort'): LogRecord => ({ type: 'outcome', txId: TX, decision })
const end: LogRecord = { type: 'end', txId: TX }

/**
 * Recovers a fresh p1 from the log of its first life: the {@link STARTED} record, then `records`.
 * It starts its second life: its Ready begins with {@link RESTART}.
 */
function recovered(records: readonly LogRecord[]) {
  const core = participant()
  const ready = core.recover([STARTED, ...records])
  return { core, ready }
}

/** What a participant's second start writes first: its incarnation record 2, forced, and the lazy end of 1. */
const RESTART: LogRecord[] = [incarnation(2), incarnationEnd(1)]

/** Asserts that a Ready is that of a restart and nothing else: the records of {@link RESTART}, forced. */
function expectRestartOnly(ready: Ready<unknown>): void {
  expect(ready).toEqual({
    records: RESTART,
    forceRecords: true,
    messages: [],
    timers: [],
    requests: [],
    events: [],
  })
}

describe('durability', () => {
  test('a participant forces its prepared record in the same Ready as its yes vote', () => {
    const { core } = participantIn('preparing')
    const ready = core.step({ type: 'prepare-result', txId: TX, vote: 'yes' })
    expect(ready.records).toEqual([prepared()])
    expect(ready.forceRecords).toBe(true)
    expect(ready.messages).toEqual([{ v: 2, type: 'vote', txId: TX, from: P1, to: C, vote: 'yes', inc: 1 }])
    expect(timers(ready)).toEqual([`set:decision-request@${expectedDelayMs(0)}`])
    expect(ready.events).toEqual([{ type: 'voted', txId: TX, vote: 'yes' }])
    expect(ready.requests).toEqual([])
    expect(core.inDoubt()).toEqual([{ txId: TX, coordinator: C, participants: [P1, P2] }])
  })

  test('a participant acks a commit only after its outcome record is forced', () => {
    const { core } = participantIn('prepared')
    const ready = core.step(deliver(msg.commit()))
    expect(ready.records).toEqual([outcome('commit')])
    expect(ready.forceRecords).toBe(true)
    expect(sent(ready)).toEqual([`ack ${P1}→${C}`])
    expect(requests(ready)).toEqual([`commit ${TX}`])
    expect(ready.requests[0]?.tx).toEqual({
      txId: TX,
      payload: { work: P1 },
      coordinator: C,
      participants: [P1, P2],
    })
    expect(timers(ready)).toEqual(['clear:decision-request'])
    expect(ready.events).toEqual([{ type: 'decided', txId: TX, decision: 'commit', from: C }])
  })

  test('an abort outcome is written lazily and needs no answer', () => {
    const { core } = participantIn('prepared')
    const ready = core.step(deliver(msg.abort()))
    expect(ready.records).toEqual([outcome('abort')])
    expect(ready.forceRecords).toBe(false)
    expect(ready.messages).toEqual([])
    expect(requests(ready)).toEqual([`abort ${TX}`])
    expect(ready.events).toEqual([{ type: 'decided', txId: TX, decision: 'abort', from: C }])
  })

  test.each([
    'applying commit',
    'applying abort',
    'one-phase confirmed commit',
    'one-phase confirmed abort',
  ] as const)('the end record is lazy once the resource applied the outcome (%s)', (state) => {
    const { core } = participantIn(state)
    const ready = core.step({ type: 'applied', txId: TX })
    expect(ready.records).toEqual([end])
    expect(ready.forceRecords).toBe(false)
    expect(ready.messages).toEqual([])
    expect(ready.events).toEqual([
      { type: 'applied', txId: TX, decision: state.endsWith('commit') ? 'commit' : 'abort' },
    ])
    expect(core.inFlight).toBe(0)
  })

  test.each([
    ['commit', 'one-phase applying commit', msg.commit()],
    ['abort', 'one-phase applying abort', msg.abort()],
  ] as const)(
    'a one-phase %s is ended only once it is both applied and confirmed by the coordinator, in either order',
    (decision, state, confirmation) => {
      // Applied first: nothing is written and the transaction stays in flight until the confirmation.
      const first = participantIn(state).core
      const applied = first.step({ type: 'applied', txId: TX })
      expect(applied.records).toEqual([])
      expect(applied.messages).toEqual([])
      expect(applied.events).toEqual([{ type: 'applied', txId: TX, decision }])
      expect(first.inFlight).toBe(1)
      const confirmed = first.step(deliver(confirmation))
      expect(confirmed.records).toEqual([end])
      expect(confirmed.forceRecords).toBe(false)
      expect(confirmed.messages).toEqual([])
      expect(confirmed.events).toEqual([])
      expect(timers(confirmed)).toEqual(['clear:decision-request'])
      expect(first.inFlight).toBe(0)
      // Confirmed first: the confirmation writes nothing, the end follows the resource.
      const second = participantIn(state).core
      const early = second.step(deliver(confirmation))
      expect(early.records).toEqual([])
      expect(early.messages).toEqual([])
      expect(timers(early)).toEqual(['clear:decision-request'])
      expect(second.inFlight).toBe(1)
      expect(second.step({ type: 'applied', txId: TX }).records).toEqual([end])
      expect(second.inFlight).toBe(0)
    },
  )

  test('a two-phase no vote writes nothing and undoes the prepare through the resource', () => {
    const { core } = participantIn('preparing')
    const ready = core.step({ type: 'prepare-result', txId: TX, vote: 'no' })
    expect(ready.records).toEqual([])
    expect(sent(ready)).toEqual([`vote:no ${P1}→${C}`])
    expect(requests(ready)).toEqual([`abort ${TX}`])
    // Nothing was logged, so nothing needs an end record either.
    expect(core.step({ type: 'applied', txId: TX }).records).toEqual([])
  })

  test('a read-only vote writes no record at all and gets no phase 2, not even the first one of a log', () => {
    for (const restarted of [false, true]) {
      const { core, log } = participantIn('preparing', {}, { restarted })
      const ready = core.step({ type: 'prepare-result', txId: TX, vote: 'read-only' })
      expect(ready.records).toEqual([])
      expect(ready.forceRecords).toBe(false)
      expect(sent(ready)).toEqual([`vote:read-only ${P1}→${C}`])
      expect(ready.requests).toEqual([])
      expect(ready.timers).toEqual([])
      expect(core.inFlight).toBe(0)
      core.step(deliver(msg.prepare({ txId: 'second', inc: core.currentIncarnation, seq: 2 })))
      const second = core.step({ type: 'prepare-result', txId: 'second', vote: 'read-only' })
      expect(second.records).toEqual([])
      expect(second.forceRecords).toBe(false)
      // The log holds nothing but the records of its starts.
      expect(log).toEqual(restarted ? [STARTED, incarnation(2), incarnationEnd(1)] : [STARTED])
    }
  })
})

describe('one-phase commit', () => {
  test('a one-phase participant forces prepared and outcome in one Ready, and its flagged vote is the outcome', () => {
    const { core } = participantIn('one-phase preparing')
    const ready = core.step({ type: 'prepare-result', txId: TX, vote: 'yes' })
    expect(ready.records).toEqual([prepared(true), outcome('commit')])
    expect(ready.forceRecords).toBe(true)
    expect(ready.messages).toEqual([
      { v: 2, type: 'vote', txId: TX, from: P1, to: C, vote: 'yes', inc: 1, onePhase: true },
    ])
    expect(requests(ready)).toEqual([`commit ${TX}`])
    // It resends that vote until the coordinator confirms it.
    expect(timers(ready)).toEqual([`set:decision-request@${expectedDelayMs(0)}`])
    expect(ready.events).toEqual([
      { type: 'voted', txId: TX, vote: 'yes' },
      { type: 'decided', txId: TX, decision: 'commit', from: P1 },
    ])
    expect(core.inFlight).toBe(1)
    expect(core.inDoubt()).toEqual([])
  })

  test('a one-phase no vote is forced and flagged, because it is the outcome', () => {
    const { core } = participantIn('one-phase preparing')
    const ready = core.step({ type: 'prepare-result', txId: TX, vote: 'no' })
    expect(ready.records).toEqual([outcome('abort')])
    expect(ready.forceRecords).toBe(true)
    expect(sent(ready)).toEqual([`vote:no(1pc) ${P1}→${C}`])
    expect(requests(ready)).toEqual([`abort ${TX}`])
    expect(timers(ready)).toEqual([`set:decision-request@${expectedDelayMs(0)}`])
  })

  test('a one-phase read-only vote is flagged, and needs no confirmation', () => {
    const { core } = participantIn('one-phase preparing')
    const ready = core.step({ type: 'prepare-result', txId: TX, vote: 'read-only' })
    expect(ready.records).toEqual([])
    expect(sent(ready)).toEqual([`vote:read-only(1pc) ${P1}→${C}`])
    expect(ready.timers).toEqual([])
    expect(core.inFlight).toBe(0)
  })

  test.each([
    ['one-phase applying commit', 'yes'],
    ['one-phase applied commit', 'yes'],
    ['one-phase applying abort', 'no'],
    ['one-phase applied abort', 'no'],
  ] as const)(
    'an unconfirmed one-phase participant (%s) resends its flagged vote with growing capped delays until confirmed',
    (state, vote) => {
      const { core } = participantIn(state)
      const delays: number[] = []
      for (let attempt = 1; attempt <= 6; attempt++) {
        const ready = core.step({ type: 'timer', txId: TX, timer: 'decision-request' })
        expect(sent(ready)).toEqual([`vote:${vote}(1pc) ${P1}→${C}`])
        expect(ready.records).toEqual([])
        expect(ready.requests).toEqual([])
        expect(ready.events).toEqual([{ type: 'voted', txId: TX, vote }])
        const [timer] = ready.timers
        if (timer?.type !== 'set-timer') throw new Error('expected set-timer')
        delays.push(timer.delayMs)
      }
      expect(delays).toEqual([150, 300, 600, 750, 750, 750])
      expect(core.inFlight).toBe(1)
      const confirmed = core.step(deliver(vote === 'yes' ? msg.commit() : msg.abort()))
      expect(timers(confirmed)).toEqual(['clear:decision-request'])
      expect(confirmed.messages).toEqual([])
      // A timer that fires after the confirmation sends nothing more.
      expect(core.step({ type: 'timer', txId: TX, timer: 'decision-request' }).messages).toEqual([])
    },
  )

  test('a one-phase participant asked to abort while preparing records abort forced, votes a flagged no at once, and never votes yes afterwards', () => {
    const { core } = participantIn('one-phase preparing')
    const abort = core.step(deliver(msg.abortRequest()))
    expect(written(abort)).toEqual(['outcome:abort'])
    expect(abort.forceRecords).toBe(true)
    expect(sent(abort)).toEqual([`vote:no(1pc) ${P1}→${C}`])
    expect(abort.events).toEqual([
      { type: 'voted', txId: TX, vote: 'no' },
      { type: 'decided', txId: TX, decision: 'abort', from: C },
    ])
    const result = core.step({ type: 'prepare-result', txId: TX, vote: 'yes' })
    expect(result.records).toEqual([])
    expect(requests(result)).toEqual([`abort ${TX}`])
    // From then on it resends the no until the coordinator confirms it, then ends.
    expect(result.messages).toEqual([])
    expect(timers(result)).toEqual([`set:decision-request@${expectedDelayMs(0)}`])
    expect(sent(core.step({ type: 'timer', txId: TX, timer: 'decision-request' }))).toEqual([
      `vote:no(1pc) ${P1}→${C}`,
    ])
    core.step({ type: 'applied', txId: TX })
    expect(core.step(deliver(msg.abort())).records).toEqual([end])
    expect(core.inFlight).toBe(0)
  })

  test('a one-phase participant that is preparing ignores a plain abort: only its coordinator’s abort request counts', () => {
    const { core } = participantIn('one-phase preparing')
    expectDropped(core.step(deliver(msg.abort())), 'unexpected')
    const result = core.step({ type: 'prepare-result', txId: TX, vote: 'yes' })
    expect(sent(result)).toEqual([`vote:yes(1pc) ${P1}→${C}`])
  })

  test('an abort request for a transaction a participant does not know, bound to its current life, is recorded and answered no, even after a restart', () => {
    // A one-phase outcome is forgotten only after the coordinator confirmed it, so an unknown
    // transaction was not committed here and forgotten: aborting it is safe on any log. Durable and
    // never ended, so that a late prepare is voted no. (A request bound to another life is refused:
    // see 'incarnations (protocol v2)'.)
    for (const restarted of [false, true]) {
      const { core } = participantIn('unknown', {}, { restarted })
      const inc = core.currentIncarnation
      expect(inc).toBe(restarted ? 2 : 1)
      const ready = core.step(deliver(msg.abortRequest({ inc })))
      expect(ready.records, String(restarted)).toEqual([outcome('abort')])
      expect(ready.forceRecords).toBe(true)
      expect(ready.messages).toEqual([
        { v: 2, type: 'vote', txId: TX, from: P1, to: C, vote: 'no', inc, onePhase: true },
      ])
      expect(ready.events).toEqual([
        { type: 'decided', txId: TX, decision: 'abort', from: C },
        { type: 'voted', txId: TX, vote: 'no' },
      ])
      expect(core.inFlight).toBe(0)
      // The coordinator's confirmation is a duplicate; a late prepare is voted no, without preparing.
      expectDropped(core.step(deliver(msg.abort())), 'duplicate')
      const late = core.step(deliver(msg.prepare({ participants: [P1], onePhase: true, inc })))
      expect(late.requests).toEqual([])
      expect(sent(late)).toEqual([`vote:no(1pc) ${P1}→${C}`])
    }
  })

  test('a plain abort for a transaction a participant does not know is dropped, with no record and no reply', () => {
    // A two-phase coordinator needs no answer, and a prepare arriving later is settled by presumed abort.
    for (const restarted of [false, true]) {
      const { core } = participantIn('unknown', {}, { restarted })
      expectDropped(core.step(deliver(msg.abort())), 'unknown-transaction')
      const prepare = msg.prepare({ inc: core.currentIncarnation })
      expect(requests(core.step(deliver(prepare)))).toEqual([`prepare ${TX}`])
    }
  })

  test('a one-phase participant that aborted answers a (forged) commit without claiming it committed', () => {
    // The coordinator of a one-phase transaction sends commit only to confirm a yes vote, so this
    // commit is forged or a bug elsewhere; a `yes` vote here would make the coordinator decide
    // commit although this participant aborted (S1). It must not count as a confirmation either.
    for (const state of [
      'one-phase applying abort',
      'one-phase applied abort',
      'one-phase confirmed abort',
      'one-phase finished abort',
    ] as const) {
      const { core } = participantIn(state)
      const ready = core.step(deliver(msg.commit()))
      expect(
        ready.messages.filter((m) => m.type === 'vote' && m.vote !== 'no'),
        state,
      ).toEqual([])
      expect(ready.requests, state).toEqual([])
      expect(ready.records, state).toEqual([])
      expect(drops(ready), state).toEqual(['conflicts-with-outcome'])
    }
  })
})

/** What a row expects: a drop reason, or the complete effects of the Ready. */
type Expected =
  | DropReason
  | {
      readonly sent?: string[]
      readonly written?: string[]
      readonly force?: boolean
      readonly requests?: string[]
      readonly events?: string[]
      /** Checked only when given. */
      readonly timers?: string[]
    }

interface Row {
  readonly state: ParticipantState
  readonly message: Message
  readonly expect: Expected
}

const fromPeer = { from: P2 }
const prepareFromEvil = msg.prepare({ from: EVIL })
const commitFromStranger = msg.commit({ from: P3 })
const requestFromPeer = msg.decisionRequest({ from: P2, to: P1 })
const requestFromStranger = msg.decisionRequest({ from: P3, to: P1 })
const onePhasePrepare = msg.prepare({ participants: [P1], onePhase: true })
const abortRequest = msg.abortRequest()

const messageTable: Row[] = [
  // unknown
  { state: 'unknown', message: msg.prepare(), expect: { requests: [`prepare ${TX}`] } },
  { state: 'unknown', message: onePhasePrepare, expect: { requests: [`prepare ${TX}`] } },
  { state: 'unknown', message: msg.prepare({ participants: [P2, P3] }), expect: 'not-a-participant' },
  { state: 'unknown', message: msg.prepare({ onePhase: true }), expect: 'not-a-participant' },
  { state: 'unknown', message: msg.commit(), expect: { sent: [`ack ${P1}→${C}`] } },
  // A two-phase coordinator needs no answer to abort; a late prepare is settled by presumed abort.
  { state: 'unknown', message: msg.abort(), expect: 'unknown-transaction' },
  {
    // A one-phase coordinator asks: durable and never ended, so that a late prepare is voted no
    // even after compaction, and the flagged no is the outcome.
    state: 'unknown',
    message: abortRequest,
    expect: {
      written: ['outcome:abort'],
      force: true,
      sent: [`vote:no(1pc) ${P1}→${C}`],
      events: ['decided', 'voted'],
    },
  },
  {
    // Cooperative termination: never voted, so it aborts durably and answers abort.
    state: 'unknown',
    message: requestFromPeer,
    expect: { written: ['outcome:abort'], force: true, sent: [`abort ${P1}→${P2}`], events: ['decided'] },
  },
  { state: 'unknown', message: msg.vote('yes', { from: C, to: P1 }), expect: 'unexpected' },
  { state: 'unknown', message: msg.ack({ from: C, to: P1 }), expect: 'unexpected' },
  { state: 'unknown', message: msg.prepare({ to: P2 }), expect: 'misrouted' },
  // preparing (the resource is preparing; no vote yet)
  { state: 'preparing', message: msg.prepare(), expect: 'duplicate' },
  { state: 'preparing', message: prepareFromEvil, expect: 'not-the-coordinator' },
  { state: 'preparing', message: msg.commit(), expect: 'unexpected' },
  { state: 'preparing', message: commitFromStranger, expect: 'not-a-participant' },
  {
    state: 'preparing',
    message: msg.abort(),
    expect: { written: ['outcome:abort'], force: true, events: ['decided'] },
  },
  {
    state: 'preparing',
    message: requestFromPeer,
    expect: {
      written: ['outcome:abort'],
      force: true,
      sent: [`vote:no ${P1}→${C}`, `abort ${P1}→${P2}`],
      events: ['decided', 'voted'],
    },
  },
  { state: 'preparing', message: requestFromStranger, expect: 'not-a-participant' },
  { state: 'preparing', message: msg.vote('no', { from: P2, to: P1 }), expect: 'unexpected' },
  { state: 'preparing', message: msg.abort({ to: P2 }), expect: 'misrouted' },
  // preparing, aborted (an abort arrived before the resource answered)
  {
    state: 'preparing, aborted',
    message: msg.prepare(),
    expect: { sent: [`vote:no ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'preparing, aborted', message: msg.abort(), expect: 'unexpected' },
  { state: 'preparing, aborted', message: msg.commit(), expect: 'unexpected' },
  { state: 'preparing, aborted', message: requestFromPeer, expect: { sent: [`abort ${P1}→${P2}`] } },
  // prepared (voted yes, in doubt)
  { state: 'prepared', message: msg.prepare(), expect: { sent: [`vote:yes ${P1}→${C}`], events: ['voted'] } },
  { state: 'prepared', message: prepareFromEvil, expect: 'not-the-coordinator' },
  {
    state: 'prepared',
    message: msg.commit(),
    expect: {
      written: ['outcome:commit'],
      force: true,
      sent: [`ack ${P1}→${C}`],
      requests: [`commit ${TX}`],
      events: ['decided'],
    },
  },
  {
    state: 'prepared',
    message: msg.commit(fromPeer),
    expect: {
      written: ['outcome:commit'],
      force: true,
      sent: [`ack ${P1}→${C}`],
      requests: [`commit ${TX}`],
      events: ['decided'],
    },
  },
  {
    state: 'prepared',
    message: msg.abort(),
    expect: { written: ['outcome:abort'], requests: [`abort ${TX}`], events: ['decided'] },
  },
  {
    state: 'prepared',
    message: msg.abort(fromPeer),
    expect: { written: ['outcome:abort'], requests: [`abort ${TX}`], events: ['decided'] },
  },
  { state: 'prepared', message: commitFromStranger, expect: 'not-a-participant' },
  { state: 'prepared', message: msg.abort({ from: P3 }), expect: 'not-a-participant' },
  { state: 'prepared', message: requestFromPeer, expect: 'cannot-answer' },
  { state: 'prepared', message: requestFromStranger, expect: 'not-a-participant' },
  { state: 'prepared', message: msg.ack({ from: C, to: P1 }), expect: 'unexpected' },
  { state: 'prepared', message: msg.commit({ to: P2 }), expect: 'misrouted' },
  // applying commit
  { state: 'applying commit', message: msg.prepare(), expect: 'duplicate' },
  { state: 'applying commit', message: prepareFromEvil, expect: 'not-the-coordinator' },
  { state: 'applying commit', message: msg.commit(), expect: { sent: [`ack ${P1}→${C}`] } },
  { state: 'applying commit', message: msg.abort(), expect: 'conflicts-with-outcome' },
  { state: 'applying commit', message: requestFromPeer, expect: { sent: [`commit ${P1}→${P2}`] } },
  { state: 'applying commit', message: requestFromStranger, expect: 'not-a-participant' },
  // applying abort (voted yes, told abort)
  {
    state: 'applying abort',
    message: msg.prepare(),
    expect: { sent: [`vote:no ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'applying abort', message: msg.abort(), expect: 'duplicate' },
  { state: 'applying abort', message: msg.commit(), expect: 'conflicts-with-outcome' },
  { state: 'applying abort', message: requestFromPeer, expect: { sent: [`abort ${P1}→${P2}`] } },
  // applying abort after voting no (no record yet)
  {
    state: 'applying abort after voting no',
    message: msg.prepare(),
    expect: { sent: [`vote:no ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'applying abort after voting no', message: msg.abort(), expect: 'duplicate' },
  { state: 'applying abort after voting no', message: msg.commit(), expect: 'conflicts-with-outcome' },
  {
    // Telling a peer "abort" must survive a crash: see 'a participant that voted no …' below.
    state: 'applying abort after voting no',
    message: requestFromPeer,
    expect: { written: ['outcome:abort'], force: true, sent: [`abort ${P1}→${P2}`] },
  },
  // finished commit
  { state: 'finished commit', message: msg.prepare(), expect: 'duplicate' },
  { state: 'finished commit', message: msg.commit(), expect: { sent: [`ack ${P1}→${C}`] } },
  { state: 'finished commit', message: msg.abort(), expect: 'conflicts-with-outcome' },
  { state: 'finished commit', message: requestFromPeer, expect: { sent: [`commit ${P1}→${P2}`] } },
  // finished abort
  {
    state: 'finished abort',
    message: msg.prepare(),
    expect: { sent: [`vote:no ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'finished abort', message: msg.abort(), expect: 'duplicate' },
  { state: 'finished abort', message: msg.commit(), expect: 'conflicts-with-outcome' },
  { state: 'finished abort', message: requestFromPeer, expect: { sent: [`abort ${P1}→${P2}`] } },
  // finished abort after voting no (nothing logged)
  {
    state: 'finished abort after voting no',
    message: msg.prepare(),
    expect: { sent: [`vote:no ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'finished abort after voting no', message: msg.abort(), expect: 'duplicate' },
  { state: 'finished abort after voting no', message: msg.commit(), expect: 'conflicts-with-outcome' },
  {
    state: 'finished abort after voting no',
    message: requestFromPeer,
    expect: { written: ['outcome:abort'], force: true, sent: [`abort ${P1}→${P2}`] },
  },
  // finished read-only
  {
    state: 'finished read-only',
    message: msg.prepare(),
    expect: { sent: [`vote:read-only ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'finished read-only', message: msg.commit(), expect: 'duplicate' },
  { state: 'finished read-only', message: msg.abort(), expect: 'duplicate' },
  { state: 'finished read-only', message: requestFromPeer, expect: 'cannot-answer' },
  // one-phase preparing: not voted yet, so only the coordinator's abort request is expected
  { state: 'one-phase preparing', message: onePhasePrepare, expect: 'duplicate' },
  {
    state: 'one-phase preparing',
    message: abortRequest,
    expect: {
      written: ['outcome:abort'],
      force: true,
      sent: [`vote:no(1pc) ${P1}→${C}`],
      events: ['voted', 'decided'],
    },
  },
  { state: 'one-phase preparing', message: msg.abort(), expect: 'unexpected' },
  { state: 'one-phase preparing', message: msg.commit(), expect: 'unexpected' },
  { state: 'one-phase preparing', message: requestFromPeer, expect: 'not-a-participant' },
  // one-phase preparing, aborted (asked to abort before the resource answered; voted no)
  {
    state: 'one-phase preparing, aborted',
    message: onePhasePrepare,
    expect: { sent: [`vote:no(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'one-phase preparing, aborted', message: abortRequest, expect: 'unexpected' },
  { state: 'one-phase preparing, aborted', message: msg.abort(), expect: 'unexpected' },
  { state: 'one-phase preparing, aborted', message: msg.commit(), expect: 'unexpected' },
  { state: 'one-phase preparing, aborted', message: requestFromPeer, expect: 'not-a-participant' },
  // one-phase applying commit (committed and voted yes; neither applied nor confirmed): a prepare or
  // an abort request is answered with the outcome, a matching commit confirms it
  {
    state: 'one-phase applying commit',
    message: onePhasePrepare,
    expect: { sent: [`vote:yes(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    state: 'one-phase applying commit',
    message: abortRequest,
    expect: { sent: [`vote:yes(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    state: 'one-phase applying commit',
    message: msg.commit(),
    expect: { timers: ['clear:decision-request'] },
  },
  { state: 'one-phase applying commit', message: msg.abort(), expect: 'conflicts-with-outcome' },
  { state: 'one-phase applying commit', message: prepareFromEvil, expect: 'not-the-coordinator' },
  // one-phase applied commit (waiting for the confirmation only)
  {
    state: 'one-phase applied commit',
    message: onePhasePrepare,
    expect: { sent: [`vote:yes(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    state: 'one-phase applied commit',
    message: abortRequest,
    expect: { sent: [`vote:yes(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    state: 'one-phase applied commit',
    message: msg.commit(),
    expect: { written: ['end'], timers: ['clear:decision-request'] },
  },
  { state: 'one-phase applied commit', message: msg.abort(), expect: 'conflicts-with-outcome' },
  // one-phase confirmed commit (confirmed; the resource still applies it)
  {
    state: 'one-phase confirmed commit',
    message: onePhasePrepare,
    expect: { sent: [`vote:yes(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    state: 'one-phase confirmed commit',
    message: abortRequest,
    expect: { sent: [`vote:yes(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'one-phase confirmed commit', message: msg.commit(), expect: 'duplicate' },
  { state: 'one-phase confirmed commit', message: msg.abort(), expect: 'conflicts-with-outcome' },
  // one-phase finished commit (applied and confirmed, then forgotten)
  {
    state: 'one-phase finished commit',
    message: onePhasePrepare,
    expect: { sent: [`vote:yes(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    state: 'one-phase finished commit',
    message: abortRequest,
    expect: { sent: [`vote:yes(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'one-phase finished commit', message: msg.commit(), expect: 'duplicate' },
  // Dropped as 'duplicate', not 'conflicts-with-outcome' as while applying: a finished one-phase
  // transaction drops every plain commit or abort alike.
  { state: 'one-phase finished commit', message: msg.abort(), expect: 'duplicate' },
  // one-phase applying abort (voted no; neither applied nor confirmed)
  {
    state: 'one-phase applying abort',
    message: onePhasePrepare,
    expect: { sent: [`vote:no(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    state: 'one-phase applying abort',
    message: abortRequest,
    expect: { sent: [`vote:no(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'one-phase applying abort', message: msg.abort(), expect: { timers: ['clear:decision-request'] } },
  { state: 'one-phase applying abort', message: msg.commit(), expect: 'conflicts-with-outcome' },
  // one-phase applied abort
  {
    state: 'one-phase applied abort',
    message: onePhasePrepare,
    expect: { sent: [`vote:no(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    state: 'one-phase applied abort',
    message: abortRequest,
    expect: { sent: [`vote:no(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    state: 'one-phase applied abort',
    message: msg.abort(),
    expect: { written: ['end'], timers: ['clear:decision-request'] },
  },
  { state: 'one-phase applied abort', message: msg.commit(), expect: 'conflicts-with-outcome' },
  // one-phase confirmed abort
  {
    state: 'one-phase confirmed abort',
    message: onePhasePrepare,
    expect: { sent: [`vote:no(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    state: 'one-phase confirmed abort',
    message: abortRequest,
    expect: { sent: [`vote:no(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'one-phase confirmed abort', message: msg.abort(), expect: 'duplicate' },
  { state: 'one-phase confirmed abort', message: msg.commit(), expect: 'conflicts-with-outcome' },
  // one-phase finished abort
  {
    state: 'one-phase finished abort',
    message: onePhasePrepare,
    expect: { sent: [`vote:no(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    state: 'one-phase finished abort',
    message: abortRequest,
    expect: { sent: [`vote:no(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'one-phase finished abort', message: msg.abort(), expect: 'duplicate' },
  { state: 'one-phase finished abort', message: msg.commit(), expect: 'conflicts-with-outcome' },
  // one-phase finished read-only: read-only is the outcome (nothing to commit) and needs no confirmation
  {
    state: 'one-phase finished read-only',
    message: onePhasePrepare,
    expect: { sent: [`vote:read-only(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  {
    // A one-phase coordinator that lost the vote and timed out waits for a vote: dropping its abort
    // request would make it retransmit forever (L1). It takes only yes or no there (a read-only vote
    // may be stale), and a participant that changed nothing has aborted as much as committed.
    state: 'one-phase finished read-only',
    message: abortRequest,
    expect: { sent: [`vote:no(1pc) ${P1}→${C}`], events: ['voted'] },
  },
  { state: 'one-phase finished read-only', message: msg.abort(), expect: 'duplicate' },
  { state: 'one-phase finished read-only', message: msg.commit(), expect: 'duplicate' },
]

function describeExpected(expected: Expected): string {
  if (typeof expected === 'string') return `drops it as ${expected}`
  const parts = [
    expected.written?.length
      ? `writes [${expected.written.join(', ')}]${expected.force ? ' forced' : ''}`
      : '',
    expected.sent?.length ? `sends [${expected.sent.join(', ')}]` : '',
    expected.requests?.length ? `requests [${expected.requests.join(', ')}]` : '',
  ].filter(Boolean)
  return parts.length === 0 ? 'does nothing' : parts.join(', ')
}

function check(ready: Ready<{ readonly type: string }>, expected: Expected): void {
  if (typeof expected === 'string') return expectDropped(ready, expected)
  expect({
    written: written(ready),
    force: ready.forceRecords,
    sent: sent(ready),
    requests: requests(ready),
    events: ready.events.map((event) => event.type),
    ...(expected.timers === undefined ? {} : { timers: timers(ready) }),
  }).toEqual({
    written: expected.written ?? [],
    force: expected.force ?? false,
    sent: expected.sent ?? [],
    requests: expected.requests ?? [],
    events: expected.events ?? [],
    ...(expected.timers === undefined ? {} : { timers: expected.timers }),
  })
}

describe('every message in every state', () => {
  test.each(
    messageTable.map(
      (row) =>
        [
          row.state,
          describeMessage(row.message),
          describeExpected(row.expect),
          row.message,
          row.expect,
        ] as const,
    ),
  )('a participant in state "%s" given %s %s', (state, _name, _outcome, message, expected) => {
    const { core } = participantIn(state)
    check(core.step(deliver(message)), expected)
  })

  test('every state of the table is covered with a prepare, a commit, an abort and a decision-request, and one-phase states with an abort request too', () => {
    const states = new Set(messageTable.map((row) => row.state))
    for (const state of states) {
      const rows = messageTable.filter((row) => row.state === state)
      const types = new Set(rows.map((row) => row.message.type))
      expect([...types].sort(), state).toEqual(expect.arrayContaining(['abort', 'commit', 'prepare']))
      if (!state.startsWith('one-phase ') || state.startsWith('one-phase preparing'))
        expect([...types], state).toContain('decision-request')
      if (state.startsWith('one-phase ') || state === 'unknown') {
        const aborts = rows
          .filter((row) => row.message.type === 'abort')
          .map((row) => describeMessage(row.message))
        expect(aborts.sort(), state).toEqual([`abort ${C}→${P1}`, `abort(1pc) ${C}→${P1}`])
      }
    }
  })

  test('a drop never changes state: the same input afterwards gives the same Ready', () => {
    for (const row of messageTable.filter((r) => typeof r.expect === 'string')) {
      const { core } = participantIn(row.state)
      const first = core.step(deliver(row.message))
      expect(core.step(deliver(row.message)), `${row.state}: ${describeMessage(row.message)}`).toEqual(first)
    }
  })
})

describe('cooperative termination', () => {
  test('a participant that has not voted aborts unilaterally and durably before answering a peer, and never votes yes', () => {
    const { core } = participantIn('preparing')
    const answer = core.step(deliver(requestFromPeer))
    expect(answer.records).toEqual([outcome('abort')])
    expect(answer.forceRecords).toBe(true)
    expect(answer.events).toContainEqual({ type: 'decided', txId: TX, decision: 'abort', from: P1 })
    const result = core.step({ type: 'prepare-result', txId: TX, vote: 'yes' })
    expect(result.messages).toEqual([])
    expect(result.records).toEqual([])
    expect(requests(result)).toEqual([`abort ${TX}`])
    // A retransmitted prepare is answered with the same no.
    expect(sent(core.step(deliver(msg.prepare())))).toEqual([`vote:no ${P1}→${C}`])
  })

  test('a participant that voted no forces its abort outcome before telling a peer, so a restart cannot turn it into a yes', () => {
    // p1 votes no (the vote is lost), then answers p2's decision-request with abort; p2 aborts.
    // If p1 then restarts without a record, the coordinator's retransmitted prepare would be
    // prepared afresh, p1 could vote yes, and with p2's earlier yes the coordinator would commit
    // what p2 aborted (S1).
    // (The retransmitted prepare is bound to p1's first life; the restarted p1 knows the transaction
    // from its log, so it answers it as before rather than refusing it.)
    for (const state of ['applying abort after voting no', 'finished abort after voting no'] as const) {
      const { core, log } = participantIn(state)
      const answer = core.step(deliver(requestFromPeer))
      expect(sent(answer), state).toEqual([`abort ${P1}→${P2}`])
      expect(answer.forceRecords, state).toBe(true)
      const restarted = participant()
      restarted.recover([...log, ...answer.records])
      const again = restarted.step(deliver(msg.prepare()))
      expect(requests(again), state).toEqual([])
      expect(sent(again), state).toEqual([`vote:no ${P1}→${C}`])
    }
  })

  test('an unlogged abort told to a peer while the resource applies it is forced and never ended, so it outlives compaction', () => {
    // p1 voted no (nothing logged) and the resource is still undoing the prepare when p2 asks. The
    // forced abort outcome is the tombstone that makes a retransmitted prepare be voted no after a
    // restart; an `end` would let compaction drop it, so none follows.
    const { core, log } = participantIn('applying abort after voting no')
    const answer = core.step(deliver(requestFromPeer))
    expect(answer.records).toEqual([outcome('abort')])
    expect(answer.forceRecords).toBe(true)
    expect(sent(answer)).toEqual([`abort ${P1}→${P2}`])
    // Asked again while applying, it answers again and writes nothing more: one record per
    // transaction, however often a peer asks (the model checker found a log growing per request).
    const askedAgain = core.step(deliver(requestFromPeer))
    expect(askedAgain.records).toEqual([])
    expect(sent(askedAgain)).toEqual([`abort ${P1}→${P2}`])
    const applied = core.step({ type: 'applied', txId: TX })
    expect(applied.records).toEqual([])
    expect(applied.events).toEqual([{ type: 'applied', txId: TX, decision: 'abort' }])
    // Asked after it finished: the same answer, still nothing written.
    const askedLate = core.step(deliver(requestFromPeer))
    expect(askedLate.records).toEqual([])
    expect(sent(askedLate)).toEqual([`abort ${P1}→${P2}`])
    // Compaction drops what has an `end`: nothing here, so the tombstone survives the restart.
    const durable = [...log, ...answer.records, ...applied.records]
    const ended = new Set(durable.filter((r) => r.type === 'end').map((r) => r.txId))
    const compacted = durable.filter((r) => !ended.has(r.txId))
    expect(compacted).toEqual([STARTED, outcome('abort')])
    const restarted = participant()
    restarted.recover(compacted)
    // The retransmitted prepare, bound to the first life: the tombstone makes it a known transaction.
    const again = restarted.step(deliver(msg.prepare()))
    expect(requests(again)).toEqual([])
    expect(sent(again)).toEqual([`vote:no ${P1}→${C}`])
  })

  test('a restarted participant does not abort unilaterally when asked while preparing', () => {
    // Under v1: it voted read-only on TX (which leaves no record), restarted (only the record of its
    // start is in its log), and prepared TX again because of a retransmitted prepare. The
    // coordinator may already have committed on its read-only vote, so answering abort to an
    // in-doubt peer would split them (S1). Under v2 that retransmitted prepare is bound to its first
    // life and is refused; but a restarted participant still cannot tell that an earlier life never
    // voted on a transaction it prepares, so the guard holds for a prepare bound to this life too.
    const core = participant()
    expectRestartOnly(core.recover([STARTED]))
    expect(sent(core.step(deliver(msg.prepare())))).toEqual([`vote:refused ${P1}→${C}`])
    core.step(deliver(msg.prepare({ inc: 2 })))
    const answer = core.step(deliver(requestFromPeer))
    expect(answer.messages).toEqual([])
    expect(answer.records).toEqual([])
    expect(drops(answer)).toEqual(['cannot-answer'])
  })

  test('a restarted participant does not tell peers about its own unlogged no vote', () => {
    // Same restart, but the second prepare fails (a resource error is reported as `no`).
    const core = participant()
    core.recover([STARTED])
    core.step(deliver(msg.prepare({ inc: 2 })))
    core.step({ type: 'prepare-result', txId: TX, vote: 'no' })
    expect(drops(core.step(deliver(requestFromPeer)))).toEqual(['cannot-answer'])
    core.step({ type: 'applied', txId: TX })
    expect(drops(core.step(deliver(requestFromPeer)))).toEqual(['cannot-answer'])
  })

  test('an abort learned from the coordinator is still passed on by a restarted participant', () => {
    const core = participant()
    core.recover([STARTED])
    core.step(deliver(msg.prepare({ inc: 2 })))
    core.step(deliver(msg.abort()))
    expect(sent(core.step(deliver(requestFromPeer)))).toEqual([`abort ${P1}→${P2}`])
  })

  test.each([
    ['unknown', 'cannot-answer'],
    ['preparing', 'cannot-answer'],
    ['preparing, aborted', `abort ${P1}→${P2}`],
    ['prepared', 'cannot-answer'],
    ['applying commit', `commit ${P1}→${P2}`],
    ['applying abort', `abort ${P1}→${P2}`],
    ['applying abort after voting no', 'cannot-answer'],
    ['finished commit', `commit ${P1}→${P2}`],
    ['finished abort', `abort ${P1}→${P2}`],
    ['finished abort after voting no', 'cannot-answer'],
    ['finished read-only', 'cannot-answer'],
  ] as const)(
    'a restarted participant in state "%s" answers a peer’s decision-request: %s',
    (state, expected) => {
      // Restarted on a log holding only the record of its first start: it passes on only what it learned or
      // logged since, never a presumption about a transaction it may have forgotten.
      const { core } = participantIn(state, {}, { restarted: true })
      const ready = core.step(deliver(requestFromPeer))
      if (expected === 'cannot-answer') expectDropped(ready, expected)
      else {
        expect(sent(ready)).toEqual([expected])
        expect(ready.records).toEqual([])
      }
    },
  )

  test('an in-doubt participant asks the coordinator with growing capped delays, and its peers too once the coordinator was silent for cooperativeTerminationAfterMs', () => {
    const { core } = participantIn('prepared')
    const asked: string[][] = []
    const delays: number[] = []
    const events: string[] = []
    for (let attempt = 1; attempt <= 7; attempt++) {
      const ready = core.step({ type: 'timer', txId: TX, timer: 'decision-request' })
      asked.push(ready.messages.map((m) => m.to))
      events.push(...ready.events.map((e) => e.type))
      expect(ready.records).toEqual([])
      expect(ready.requests).toEqual([])
      const [timer] = ready.timers
      if (timer?.type !== 'set-timer') throw new Error('expected set-timer')
      delays.push(timer.delayMs)
    }
    // 100 ms doubling, capped at 1000 ms, times 0.75; asking started 75 ms after the vote.
    expect(delays).toEqual([150, 300, 600, 750, 750, 750, 750])
    // Waited 75, 225, 525, then 1125 ≥ COOPERATIVE_MS (1000): from then on the peers are asked too.
    expect(asked).toEqual([[C], [C], [C], [P2, C], [P2, C], [P2, C], [P2, C]])
    // `in-doubt` at once; `blocked` once the peers had a retransmission interval to answer (test/core/blocked.test.ts).
    expect(events).toEqual(['in-doubt', 'blocked'])
    expect(COOPERATIVE_MS).toBe(1000)
  })

  test('an in-doubt participant asks every peer of a larger transaction, never itself', () => {
    const core = startedParticipant(P2, { cooperativeTerminationAfterMs: 1 })
    core.step(deliver(msg.prepare({ to: P2, participants: [P1, P2, P3] })))
    core.step({ type: 'prepare-result', txId: TX, vote: 'yes' })
    const ready = core.step({ type: 'timer', txId: TX, timer: 'decision-request' })
    expect(sent(ready).sort()).toEqual(
      [`decision-request ${P2}→${C}`, `decision-request ${P2}→${P1}`, `decision-request ${P2}→${P3}`].sort(),
    )
    expect(ready.events).toEqual([{ type: 'in-doubt', txId: TX, coordinator: C }])
  })

  test.each([
    'unknown',
    'preparing',
    'applying commit',
    'finished commit',
    'finished read-only',
    'one-phase confirmed commit',
    'one-phase finished commit',
    'one-phase finished abort',
  ] as const)('a decision-request timer in state "%s" does nothing', (state) => {
    expectNothing(participantIn(state).core.step({ type: 'timer', txId: TX, timer: 'decision-request' }))
  })

  test('coordinator timer kinds do nothing to a participant', () => {
    const { core } = participantIn('prepared')
    expectNothing(core.step({ type: 'timer', txId: TX, timer: 'retransmit' }))
    expectNothing(core.step({ type: 'timer', txId: TX, timer: 'prepare-timeout' }))
  })
})

describe('resource results', () => {
  test.each(['unknown', 'prepared', 'applying commit', 'finished commit'] as const)(
    'a stale prepare-result in state "%s" does nothing',
    (state) => {
      expectNothing(participantIn(state).core.step({ type: 'prepare-result', txId: TX, vote: 'yes' }))
    },
  )

  test.each(['unknown', 'preparing', 'prepared', 'finished commit'] as const)(
    'a stale applied in state "%s" does nothing',
    (state) => {
      expectNothing(participantIn(state).core.step({ type: 'applied', txId: TX }))
    },
  )

  test('a two-phase abort received while preparing is forced, and the resource then undoes the prepare without a vote', () => {
    const { core } = participantIn('preparing, aborted')
    const ready = core.step({ type: 'prepare-result', txId: TX, vote: 'yes' })
    expect(ready.messages).toEqual([])
    expect(requests(ready)).toEqual([`abort ${TX}`])
    expect(core.step({ type: 'applied', txId: TX }).records).toEqual([end])
  })
})

describe('maxInFlightTransactions', () => {
  test('a participant at its limit votes no without preparing, until a transaction finishes', () => {
    const core = startedParticipant(P1, { maxInFlightTransactions: 1 })
    core.step(deliver(msg.prepare({ txId: 'a', seq: 1 })))
    const refused = core.step(deliver(msg.prepare({ txId: 'b', seq: 2 })))
    expect(sent(refused)).toEqual([`vote:no ${P1}→${C}`])
    expect(refused.requests).toEqual([])
    expect(refused.records).toEqual([])
    expect(sent(core.step(deliver(msg.prepare({ txId: 'b', seq: 2 }))))).toEqual([`vote:no ${P1}→${C}`])
    core.step({ type: 'prepare-result', txId: 'a', vote: 'read-only' })
    expect(requests(core.step(deliver(msg.prepare({ txId: 'c', seq: 3 }))))).toEqual(['prepare c'])
  })

  test('a one-phase no at the limit (not a v2 refusal) is the outcome, so it is forced', () => {
    const core = startedParticipant(P1, { maxInFlightTransactions: 1 })
    core.step(deliver(msg.prepare({ txId: 'a', seq: 1 })))
    const refused = core.step(deliver(msg.prepare({ txId: 'b', seq: 2, participants: [P1], onePhase: true })))
    expect(refused.records).toEqual([{ type: 'outcome', txId: 'b', decision: 'abort' }])
    expect(refused.forceRecords).toBe(true)
    expect(sent(refused)).toEqual([`vote:no(1pc) ${P1}→${C}`])
    // Never prepared, so nothing to apply and nothing to resend: the coordinator's confirmation is a duplicate.
    expect(refused.requests).toEqual([])
    expect(refused.timers).toEqual([])
    expectDropped(core.step(deliver(msg.abort({ txId: 'b' }))), 'duplicate')
  })

  test('a two-phase participant that voted no at its limit forces its abort before telling a peer', () => {
    const core = startedParticipant(P1, { maxInFlightTransactions: 1 })
    core.step(deliver(msg.prepare({ txId: 'a', seq: 1 })))
    core.step(deliver(msg.prepare({ txId: 'b', seq: 2 })))
    const answer = core.step(deliver(msg.decisionRequest({ txId: 'b', from: P2, to: P1 })))
    expect(sent(answer)).toEqual([`abort ${P1}→${P2}`])
    expect(answer.forceRecords).toBe(true)
    expect(answer.records).toContainEqual({ type: 'outcome', txId: 'b', decision: 'abort' })
  })
})

describe('recovery', () => {
  test('an empty log recovers to a forced incarnation record 1 and nothing else', () => {
    const core = participant()
    expect(core.currentIncarnation).toBe(0)
    const ready = core.recover([])
    expect(ready).toEqual({
      records: [{ type: 'incarnation', txId: '~inc:1', n: 1, node: P1, role: 'participant' }],
      forceRecords: true,
      messages: [],
      timers: [],
      requests: [],
      events: [],
    })
    expect(STARTED).toEqual({ type: 'incarnation', txId: '~inc:1', n: 1, node: P1, role: 'participant' })
    expect(core.currentIncarnation).toBe(1)
  })

  test('a log holding only the incarnation record recovers to the next incarnation, forced, and the lazy end of the previous one', () => {
    const { core, ready } = recovered([])
    expectRestartOnly(ready)
    expect(RESTART).toEqual([
      { type: 'incarnation', txId: '~inc:2', n: 2, node: P1, role: 'participant' },
      { type: 'end', txId: '~inc:1' },
    ])
    expect(core.currentIncarnation).toBe(2)
    expect(core.inFlight).toBe(0)
    expect(core.inDoubt()).toEqual([])
  })

  test('a log of protocol version 1 (its created record) is read as incarnation 0: the next life is 1, with nothing to end', () => {
    expect(CREATED_V1).toEqual({ type: 'created', txId: CREATED_RECORD_TX_ID })
    expect(CREATED_RECORD_TX_ID).toBe('~log')
    const core = participant()
    const ready = core.recover([CREATED_V1])
    expect(ready).toEqual({
      records: [STARTED],
      forceRecords: true,
      messages: [],
      timers: [],
      requests: [],
      events: [],
    })
    expect(core.currentIncarnation).toBe(1)
    // Still a restart: it does not answer for transactions it does not know.
    expectDropped(core.step(deliver(requestFromPeer)), 'cannot-answer')
  })

  test('prepared without outcome is in doubt and asks the coordinator immediately', () => {
    const { core, ready } = recovered([prepared()])
    // Peers are asked only once the coordinator has been silent for cooperativeTerminationAfterMs.
    expect(sent(ready)).toEqual([`decision-request ${P1}→${C}`])
    expect(ready.messages[0]).toMatchObject({ inc: 2 })
    expect(ready.events).toEqual([{ type: 'in-doubt', txId: TX, coordinator: C }])
    expect(timers(ready)).toEqual([`set:decision-request@${expectedDelayMs(1)}`])
    expect(ready.records).toEqual(RESTART)
    expect(ready.requests).toEqual([])
    expect(core.inDoubt()).toEqual([{ txId: TX, coordinator: C, participants: [P1, P2] }])
    // S5: it never decides alone, whatever its timers do.
    for (let i = 0; i < 5; i++) {
      const again = core.step({ type: 'timer', txId: TX, timer: 'decision-request' })
      expect(again.records).toEqual([])
      expect(again.requests).toEqual([])
    }
    // A known transaction: the prepare of the first life is answered as before, not refused.
    expect(sent(core.step(deliver(msg.prepare())))).toEqual([`vote:yes ${P1}→${C}`])
    expect(written(core.step(deliver(msg.commit())))).toEqual(['outcome:commit'])
  })

  test.each([
    ['commit', [prepared(), outcome('commit')]],
    ['abort', [prepared(), outcome('abort')]],
  ] as const)(
    'a two-phase outcome (%s) without end is re-applied through the resource',
    (decision, records) => {
      const { core, ready } = recovered(records)
      expect(requests(ready)).toEqual([`${decision} ${TX}`])
      expect(ready.requests[0]?.tx).toEqual({
        txId: TX,
        payload: { work: P1 },
        coordinator: C,
        participants: [P1, P2],
      })
      expect(ready.messages).toEqual([])
      expect(ready.records).toEqual(RESTART)
      expect(ready.timers).toEqual([])
      expect(core.inDoubt()).toEqual([])
      const applied = core.step({ type: 'applied', txId: TX })
      expect(applied.records).toEqual([end])
      expect(applied.events).toEqual([{ type: 'applied', txId: TX, decision }])
    },
  )

  test.each([
    ['commit', 'yes', msg.commit()],
    ['abort', 'no', msg.abort()],
  ] as const)(
    'a one-phase outcome (%s) without end is unconfirmed: re-applied through the resource, and its vote resent until the coordinator confirms it',
    (decision, vote, confirmation) => {
      const { core, ready } = recovered([prepared(true), outcome(decision)])
      expect(requests(ready)).toEqual([`${decision} ${TX}`])
      expect(ready.requests[0]?.tx).toEqual({
        txId: TX,
        payload: { work: P1 },
        coordinator: C,
        participants: [P1],
      })
      expect(ready.records).toEqual(RESTART)
      expect(ready.messages).toEqual([])
      expect(timers(ready)).toEqual([`set:decision-request@${expectedDelayMs(0)}`])
      expect(core.inDoubt()).toEqual([])
      expect(core.inFlight).toBe(1)
      // Applied, but not confirmed: no end yet.
      const applied = core.step({ type: 'applied', txId: TX })
      expect(applied.records).toEqual([])
      expect(applied.events).toEqual([{ type: 'applied', txId: TX, decision }])
      expect(sent(core.step({ type: 'timer', txId: TX, timer: 'decision-request' }))).toEqual([
        `vote:${vote}(1pc) ${P1}→${C}`,
      ])
      // A coordinator that timed out asks to abort: it is told the outcome.
      expect(sent(core.step(deliver(msg.abortRequest())))).toEqual([`vote:${vote}(1pc) ${P1}→${C}`])
      const confirmed = core.step(deliver(confirmation))
      expect(confirmed.records).toEqual([end])
      expect(timers(confirmed)).toEqual(['clear:decision-request'])
      expect(core.inFlight).toBe(0)
    },
  )

  test('a recovered commit outcome acks a retransmitted commit', () => {
    const { core } = recovered([prepared(), outcome('commit')])
    expect(sent(core.step(deliver(msg.commit())))).toEqual([`ack ${P1}→${C}`])
  })

  test('a one-phase prepared record without its outcome is aborted, forced, and that no is told to the coordinator until confirmed', () => {
    // The crash came before the vote, so abort is safe; the flagged no is the outcome, so it is forced.
    const { core, ready } = recovered([prepared(true)])
    expect(ready.records).toEqual([...RESTART, outcome('abort')])
    expect(ready.forceRecords).toBe(true)
    expect(ready.messages).toEqual([])
    expect(requests(ready)).toEqual([`abort ${TX}`])
    expect(timers(ready)).toEqual([`set:decision-request@${expectedDelayMs(0)}`])
    expect(ready.events).toEqual([])
    expect(sent(core.step({ type: 'timer', txId: TX, timer: 'decision-request' }))).toEqual([
      `vote:no(1pc) ${P1}→${C}`,
    ])
    // A retransmitted prepare gets the same no, without preparing again.
    const again = core.step(deliver(onePhasePrepare))
    expect(sent(again)).toEqual([`vote:no(1pc) ${P1}→${C}`])
    expect(again.requests).toEqual([])
    core.step({ type: 'applied', txId: TX })
    expect(core.step(deliver(msg.abort())).records).toEqual([end])
    expect(core.inFlight).toBe(0)
  })

  test.each([
    ['two-phase commit', [prepared(), outcome('commit'), end], msg.prepare(), 'duplicate'],
    ['two-phase abort', [prepared(), outcome('abort'), end], msg.prepare(), `vote:no ${P1}→${C}`],
    [
      'one-phase commit',
      [prepared(true), outcome('commit'), end],
      onePhasePrepare,
      `vote:yes(1pc) ${P1}→${C}`,
    ],
    ['one-phase abort', [outcome('abort'), end], onePhasePrepare, `vote:no(1pc) ${P1}→${C}`],
    ['abort before voting', [outcome('abort')], msg.prepare(), `vote:no ${P1}→${C}`],
    ['abort before voting, ended', [outcome('abort'), end], msg.prepare(), `vote:no ${P1}→${C}`],
  ] as const)(
    'after end (%s) the transaction is finished and a duplicate prepare gets the remembered answer',
    (_name, records, prepare, answer) => {
      const { core, ready } = recovered(records)
      expectRestartOnly(ready)
      expect(core.inFlight).toBe(0)
      const again = core.step(deliver(prepare))
      expect(again.requests).toEqual([])
      if (answer === 'duplicate') expectDropped(again, 'duplicate')
      else expect(sent(again)).toEqual([answer])
    },
  )

  test('a finished commit answers peers and the coordinator after a restart', () => {
    const { core } = recovered([prepared(), outcome('commit'), end])
    expect(sent(core.step(deliver(requestFromPeer)))).toEqual([`commit ${P1}→${P2}`])
    expect(sent(core.step(deliver(msg.commit())))).toEqual([`ack ${P1}→${C}`])
    expectDropped(core.step(deliver(msg.abort())), 'conflicts-with-outcome')
  })

  const preparedOther = prepared(false, 'other')
  const restartLogs: [string, LogRecord[]][] = [
    ['only the incarnation record', [STARTED]],
    [
      'the incarnation record and a finished transaction',
      [
        STARTED,
        preparedOther,
        { type: 'outcome', txId: 'other', decision: 'commit' },
        { type: 'end', txId: 'other' },
      ],
    ],
    ['a transaction in doubt', [STARTED, preparedOther]],
    ['an abort tombstone', [STARTED, { type: 'outcome', txId: 'other', decision: 'abort' }]],
    // A log of protocol version 1, which began with a created record.
    ['the created record of version 1', [CREATED_V1]],
    // A log written before the created record existed: any non-empty log is a restart.
    ['no start record', [{ type: 'outcome', txId: 'other', decision: 'abort' }]],
  ]
  test.each(restartLogs)(
    'a restarted participant (log: %s) refuses to answer for transactions it does not know',
    (_name, records) => {
      const core = participant()
      const ready = core.recover(records)
      // Version 2 never writes a created record: it starts a new incarnation instead.
      expect(ready.records.filter((record) => record.type === 'created')).toEqual([])
      expect(ready.records.filter((record) => record.type === 'incarnation')).toHaveLength(1)
      // It may have voted on TX (read-only, or committed and compacted) and forgotten it: answering
      // abort could contradict a commit (S1).
      expectDropped(core.step(deliver(requestFromPeer)), 'cannot-answer')
    },
  )

  test('a participant on the log it created answers abort for an unknown transaction, durably', () => {
    const core = participant()
    const ready = core.recover([])
    expect(ready.records).toEqual([STARTED])
    const answer = core.step(deliver(requestFromPeer))
    expect(sent(answer)).toEqual([`abort ${P1}→${P2}`])
    expect(answer.records).toEqual([outcome('abort')])
    expect(answer.forceRecords).toBe(true)
    expect(answer.events).toEqual([{ type: 'decided', txId: TX, decision: 'abort', from: P1 }])
  })

  test('a participant on the log it created, restarted on that log, no longer answers for unknown transactions', () => {
    const first = participant()
    const log = [...first.recover([]).records]
    const answer = first.step(deliver(msg.decisionRequest({ txId: 'a', from: P2, to: P1 })))
    expect(sent(answer)).toEqual([`abort ${P1}→${P2}`])
    log.push(...answer.records)
    const core = participant()
    core.recover(log)
    expectDropped(core.step(deliver(requestFromPeer)), 'cannot-answer')
    // What it logged it still answers.
    expect(sent(core.step(deliver(msg.decisionRequest({ txId: 'a', from: P2, to: P1 }))))).toEqual([
      `abort ${P1}→${P2}`,
    ])
  })

  test('a coordinator record in a participant log throws INVALID_RECORD', () => {
    expect(
      thrownBy(() => participant().recover([{ type: 'commit', txId: TX, participants: [P1] }])).code,
    ).toBe('INVALID_RECORD')
  })

  test('recover may be called only once, before any step', () => {
    const core = participant()
    core.recover([])
    expect(thrownBy(() => core.recover([])).code).toBe('INVALID_REQUEST')
    expect(thrownBy(() => participantIn('preparing').core.recover([])).code).toBe('INVALID_REQUEST')
    // Stepping first is a caller bug too (it has no incarnation yet), and changes nothing.
    const fresh = participant()
    expect(thrownBy(() => fresh.step(deliver(msg.prepare({ inc: 0 })))).code).toBe('INVALID_REQUEST')
    expect(fresh.inFlight).toBe(0)
  })

  test('recovering the log a participant wrote puts it back in the same state', () => {
    for (const [state, follow] of [
      ['prepared', msg.prepare()],
      ['applying commit', msg.commit()],
      ['finished commit', msg.commit()],
      ['finished abort', msg.prepare()],
      ['one-phase applying commit', abortRequest],
      ['one-phase applied commit', msg.prepare({ participants: [P1], onePhase: true })],
      ['one-phase finished commit', abortRequest],
      ['one-phase applied abort', abortRequest],
      ['one-phase finished abort', abortRequest],
    ] as const) {
      const { core, log } = participantIn(state)
      const restarted = participant()
      restarted.recover(log)
      expect(sent(restarted.step(deliver(follow))), state).toEqual(sent(core.step(deliver(follow))))
    }
  })
})

describe('outcomes taken by hand', () => {
  // Found by an independent review (S1 with a correct peer): a forgotten abort taken by hand was
  // taken for a forgotten real abort, so the participant went on answering "abort" about unknown
  // transactions — to a peer in doubt about the one the coordinator committed.
  test('forgetting an abort taken by hand stops answering peers about transactions it does not know', () => {
    const core = participant(P1, { rememberedTransactions: 1 })
    core.recover([])
    core.step(deliver(msg.prepare({ txId: 'T', seq: 1 })))
    core.step({ type: 'prepare-result', txId: 'T', vote: 'yes' })
    core.step({ type: 'resolve-manually', txId: 'T', decision: 'abort', reason: 'operator' })
    core.step({ type: 'applied', txId: 'T' })
    core.step(deliver(msg.commit({ txId: 'T' }))) // the real decision: a mismatch, reported
    // U finishes and evicts T from memory.
    core.step(deliver(msg.prepare({ txId: 'U', seq: 2 })))
    core.step({ type: 'prepare-result', txId: 'U', vote: 'no' })
    core.step({ type: 'applied', txId: 'U' })
    expectDropped(core.step(deliver(msg.decisionRequest({ txId: 'T', from: P2, to: P1 }))), 'cannot-answer')
  })

  // Found by the runtime simulator (seed 5611 of 2001–12000, with resolutions by hand as an input).
  test('after a restart, an ended outcome taken by hand still answers the resent commit with an ack reporting it, and never tells it to a peer', () => {
    const core = participant()
    const prepared: LogRecord = {
      type: 'prepared',
      txId: TX,
      coordinator: C,
      participants: [P1, P2],
      payload: null,
      onePhase: false,
    }
    core.recover([
      STARTED,
      prepared,
      { type: 'outcome', txId: TX, decision: 'abort', heuristic: 'operator' },
      { type: 'end', txId: TX },
    ])
    const ack = core.step(deliver(msg.commit())).messages
    expect(ack).toEqual([{ ...msg.ack({ inc: 2 }), heuristic: 'abort' }])
    expectDropped(core.step(deliver(msg.decisionRequest({ from: P2, to: P1, inc: 1 }))), 'cannot-answer')
  })
})

describe('limits on what peers can make a participant remember', () => {
  test('aborts of unknown transactions told to peers are pinned up to rememberedTransactions; past it, the participant answers nothing', () => {
    const core = participant(P1, { rememberedTransactions: 2 })
    core.recover([])
    const answers = ['a', 'b', 'c'].map((txId) =>
      core.step(deliver(msg.decisionRequest({ txId, from: P2, to: P1 }))),
    )
    expect(answers.map((ready) => ready.records.length)).toEqual([1, 1, 0])
    expectDropped(answers[2] as Ready<{ readonly type: string }>, 'cannot-answer')
  })

  test('a unilateral abort (a peer asked before the vote) is forced once, and later questions are answered from it', () => {
    const core = participant()
    core.recover([])
    core.step(deliver(msg.prepare()))
    const asked = core.step(deliver(msg.decisionRequest({ from: P2, to: P1 })))
    expect(asked.records).toEqual([{ type: 'outcome', txId: TX, decision: 'abort' }])
    core.step({ type: 'prepare-result', txId: TX, vote: 'yes' })
    core.step({ type: 'applied', txId: TX })
    const again = core.step(deliver(msg.decisionRequest({ from: P2, to: P1 })))
    expect(again.records).toEqual([])
    expect(sent(again)).toEqual([`abort ${P1}→${P2}`])
  })
})

describe('options', () => {
  const base = { id: P1, random }
  test.each([
    ['id', { ...base, id: 'x'.repeat(129) }],
    ['id', { ...base, id: 42 }],
    ['random', { ...base, random: undefined }],
    ['retransmitIntervalMs', { ...base, retransmitIntervalMs: -5 }],
    ['retransmitIntervalMsMax', { ...base, retransmitIntervalMsMax: 0 }],
    ['maxInFlightTransactions', { ...base, maxInFlightTransactions: 2.5 }],
    ['rememberedTransactions', { ...base, rememberedTransactions: 0 }],
    ['cooperativeTerminationAfterMs', { ...base, cooperativeTerminationAfterMs: -1 }],
  ])('an invalid `%s` throws INVALID_OPTIONS naming it', (name, options) => {
    const error = thrownBy(() => new ParticipantCore(options as never))
    expect(error.code).toBe('INVALID_OPTIONS')
    expect(error.message).toContain(`\`${name}\``)
  })

  test('a participant that forgot a committed transaction (rememberedTransactions) never answers abort for it', () => {
    // p1 committed `a`, then finished `b`, which evicted `a` from memory. p2, in doubt about `a`
    // while the coordinator is down, asks p1: answering abort would contradict the commit (S1).
    const core = startedParticipant(P1, { rememberedTransactions: 1 })
    for (const [seq, txId] of ['a', 'b'].entries()) {
      core.step(deliver(msg.prepare({ txId, seq: seq + 1 })))
      core.step({ type: 'prepare-result', txId, vote: 'yes' })
      core.step(deliver(msg.commit({ txId })))
      core.step({ type: 'applied', txId })
    }
    const answer = core.step(deliver(msg.decisionRequest({ txId: 'a', from: P2, to: P1 })))
    expect(answer.messages.filter((m) => m.type === 'abort')).toEqual([])
    expect(answer.records).toEqual([])
    expect(drops(answer)).toEqual(['cannot-answer'])
  })

  test('rememberedTransactions bounds what a participant remembers: a duplicate prepare of an older one is refused, never prepared again', () => {
    // Under v1 the forgotten `a` fell back to a presumption: its duplicate prepare was prepared
    // again. Under v2, forgetting `a` raises the coordinator's low-water mark to `a`'s place in its
    // order (epoch 1, seq 1), and the duplicate, not above it, is refused.
    const core = startedParticipant(P1, { rememberedTransactions: 1 })
    for (const [seq, txId] of ['a', 'b'].entries()) {
      core.step(deliver(msg.prepare({ txId, seq: seq + 1 })))
      core.step({ type: 'prepare-result', txId, vote: 'read-only' })
    }
    expect(sent(core.step(deliver(msg.prepare({ txId: 'b', seq: 2 }))))).toEqual([
      `vote:read-only ${P1}→${C}`,
    ])
    const again = core.step(deliver(msg.prepare({ txId: 'a', seq: 1 })))
    expect(again.requests).toEqual([])
    expect(again.records).toEqual([])
    expect(sent(again)).toEqual([`vote:refused ${P1}→${C}`])
  })
})

describe('incarnations (protocol v2)', () => {
  /** p1 started `lives` times (1: on an empty log), each start on the log the previous ones wrote. */
  function inLife(lives: number, options: Parameters<typeof participant>[1] = {}) {
    const log: LogRecord[] = []
    let core = participant(P1, options)
    for (let life = 1; life <= lives; life++) {
      core = participant(P1, options)
      log.push(...core.recover(log).records)
    }
    return { core, log }
  }

  /** A refusal by p1's life `inc` of a request bound to `refused`. */
  const refusal = (refused: number, inc: number, txId = TX) => ({
    v: 2,
    type: 'vote',
    txId,
    from: P1,
    to: C,
    vote: 'no',
    refused,
    inc,
  })

  /** Asserts that a Ready is a refusal and nothing else: no record, no resource call, no decision. */
  function expectRefusal(ready: Ready<unknown>, refused: number, inc: number, txId = TX): void {
    expect(ready).toEqual({
      records: [],
      forceRecords: false,
      messages: [refusal(refused, inc, txId)],
      timers: [],
      requests: [],
      events: [{ type: 'refused', txId, coordinator: C }],
    })
  }

  test.each([
    ['an empty log', [], [incarnation(1)]],
    ['the log of life 1', [incarnation(1)], [incarnation(2), incarnationEnd(1)]],
    [
      'the log of lives 1 and 2, not compacted',
      [incarnation(1), incarnation(2), incarnationEnd(1)],
      [incarnation(3), incarnationEnd(2)],
    ],
    ['the log of life 2, compacted', [incarnation(2)], [incarnation(3), incarnationEnd(2)]],
    [
      'a log with transactions after the incarnation record',
      [incarnation(4), prepared(), outcome('commit'), end],
      [incarnation(5), incarnationEnd(4)],
    ],
    ['a version 1 log (incarnation 0)', [CREATED_V1], [incarnation(1)]],
  ] as const)(
    'recover on %s forces the incarnation record n = last + 1 and ends the previous one in the same append',
    (_name, log, expected) => {
      const core = participant()
      const ready = core.recover(log)
      expect(ready.records).toEqual(expected)
      expect(ready.forceRecords).toBe(true)
      expect(ready.messages).toEqual([])
      expect(core.currentIncarnation).toBe((expected[0] as { n: number }).n)
    },
  )

  test('each start is one more life: its messages carry it as inc', () => {
    for (const lives of [1, 2, 3, 4]) {
      const { core, log } = inLife(lives)
      expect(core.currentIncarnation, String(lives)).toBe(lives)
      // Every life but the current one is ended in the log, so compaction keeps only the last.
      const ended = new Set(log.filter((r) => r.type === 'end').map((r) => r.txId))
      expect(log.filter((r) => r.type === 'incarnation' && !ended.has(r.txId))).toEqual([incarnation(lives)])
      core.step(deliver(msg.prepare({ inc: lives })))
      const vote = core.step({ type: 'prepare-result', txId: TX, vote: 'yes' })
      expect(vote.messages).toEqual([expect.objectContaining({ type: 'vote', vote: 'yes', inc: lives })])
    }
  })

  test.each([
    [1, 0, false],
    [1, 2, false],
    [2, 0, false],
    [2, 1, false],
    [2, 3, false],
    [1, 0, true],
    [2, 1, true],
  ] as const)(
    'life %i refuses a prepare for a transaction it does not know bound to incarnation %i (one-phase: %s): no resource call, no record, no vote but the refusal',
    (lives, inc, onePhase) => {
      const { core } = inLife(lives)
      const prepare = msg.prepare({ inc, onePhase, participants: onePhase ? [P1] : [P1, P2] })
      if (inc === 0)
        expect(describeMessage(prepare)).toBe(`prepare(${onePhase ? '1pc,' : ''}probe) ${C}→${P1}`)
      const ready = core.step(deliver(prepare))
      expectRefusal(ready, inc, lives)
      expect(sent(ready)).toEqual([`vote:refused ${P1}→${C}`])
      expect(core.inFlight).toBe(0)
      // Refused again, the same way: it remembers nothing of it.
      expectRefusal(core.step(deliver(prepare)), inc, lives)
      // And the same transaction bound to this life is prepared: the refusal recorded no abort.
      expect(requests(core.step(deliver({ ...prepare, inc: lives })))).toEqual([`prepare ${TX}`])
    },
  )

  test.each([
    [1, false],
    [1, true],
    [2, false],
    [2, true],
  ] as const)('life %i prepares a prepare bound to it (one-phase: %s)', (lives, onePhase) => {
    const { core } = inLife(lives)
    const ready = core.step(
      deliver(msg.prepare({ inc: lives, onePhase, participants: onePhase ? [P1] : [P1, P2] })),
    )
    expect(requests(ready)).toEqual([`prepare ${TX}`])
    expect(ready.messages).toEqual([])
    expect(ready.records).toEqual([])
    expect(ready.events).toEqual([])
    expect(core.inFlight).toBe(1)
  })

  test.each([
    ['in doubt (recovered)', [prepared()], msg.prepare({ inc: 1 }), `vote:yes ${P1}→${C}`],
    ['in doubt (recovered)', [prepared()], msg.prepare({ inc: 0 }), `vote:yes ${P1}→${C}`],
    ['aborted before voting (recovered)', [outcome('abort')], msg.prepare({ inc: 1 }), `vote:no ${P1}→${C}`],
    [
      'one-phase committed, unconfirmed (recovered)',
      [prepared(true), outcome('commit')],
      msg.prepare({ inc: 1, participants: [P1], onePhase: true }),
      `vote:yes(1pc) ${P1}→${C}`,
    ],
    [
      'finished commit (recovered)',
      [prepared(), outcome('commit'), end],
      msg.prepare({ inc: 1 }),
      'duplicate',
    ],
  ] as const)(
    'a known transaction (%s) answers a prepare bound to an earlier incarnation as before, not with a refusal',
    (_name, records, prepare, answer) => {
      const { core } = recovered(records) // life 2
      expect(core.currentIncarnation).toBe(2)
      const ready = core.step(deliver(prepare))
      expect(ready.requests).toEqual([])
      expect(ready.events.filter((event) => event.type === 'refused')).toEqual([])
      if (answer === 'duplicate') expectDropped(ready, 'duplicate')
      else {
        expect(sent(ready)).toEqual([answer])
        // The vote is from this life.
        expect(ready.messages[0]).toMatchObject({ inc: 2 })
        expect(ready.messages[0]).not.toHaveProperty('refused')
      }
    },
  )

  test('same life, rememberedTransactions 1: a duplicate prepare of a finished transaction it forgot is refused, a later one is prepared', () => {
    const core = startedParticipant(P1, { rememberedTransactions: 1 })
    for (const [txId, seq] of [
      ['A', 1],
      ['B', 2],
    ] as const) {
      core.step(deliver(msg.prepare({ txId, seq })))
      core.step({ type: 'prepare-result', txId, vote: 'yes' })
      core.step(deliver(msg.commit({ txId })))
      core.step({ type: 'applied', txId })
    }
    // B evicted A from memory: A's place (epoch 1, seq 1) is the coordinator's low-water mark.
    expectRefusal(core.step(deliver(msg.prepare({ txId: 'A', seq: 1 }))), 1, 1, 'A')
    // B is still remembered: its duplicate is answered as before.
    expectDropped(core.step(deliver(msg.prepare({ txId: 'B', seq: 2 }))), 'duplicate')
    // C comes after everything forgotten: prepared.
    expect(requests(core.step(deliver(msg.prepare({ txId: 'C', seq: 3 }))))).toEqual(['prepare C'])
    // The mark is per coordinator: another coordinator's seq 1 is not below it.
    expect(
      requests(core.step(deliver(msg.prepare({ txId: 'D', seq: 1, from: 'another-coordinator' })))),
    ).toEqual(['prepare D'])
  })

  test.each([
    [2, 1],
    [2, 0],
    [2, 3],
    [1, 0],
  ] as const)(
    'life %i refuses a one-phase abort request for a transaction it does not know bound to incarnation %i: no abort recorded, no decision',
    (lives, inc) => {
      const { core } = inLife(lives)
      const request = msg.abortRequest({ inc })
      const ready = core.step(deliver(request))
      expectRefusal(ready, inc, lives)
      expect(core.inFlight).toBe(0)
      // Nothing was recorded: the same request bound to this life is still taken, and recorded.
      const bound = core.step(deliver(msg.abortRequest({ inc: lives })))
      expect(written(bound)).toEqual(['outcome:abort'])
      expect(sent(bound)).toEqual([`vote:no(1pc) ${P1}→${C}`])
    },
  )
})

describe('aborts taken on a one-phase abort request for a transaction never seen', () => {
  const abortRequestFor = (txId: string, seq: number, from = 'coord'): Message => ({
    v: 2,
    type: 'abort',
    txId,
    from,
    to: 'p',
    onePhase: true,
    ticket: { inc: 1, epoch: 1, seq },
  })
  const lateOnePhasePrepare = (txId: string, seq: number): Message => ({
    v: 2,
    type: 'prepare',
    txId,
    from: 'coord',
    to: 'p',
    payload: null,
    participants: ['p'],
    onePhase: true,
    inc: 1,
    epoch: 1,
    seq,
  })

  test('are kept for good, so the late prepare is voted no however many come, and do not use up the answers to peers', () => {
    const core = new ParticipantCore({ id: 'p', random: () => 0.5, rememberedTransactions: 3 })
    core.recover([])
    // Forged by an outsider (from `intruder`, not the coordinator), as in simulator seed 7217950.
    for (let i = 1; i <= 10; i++) {
      const ready = core.step({
        type: 'message',
        message: abortRequestFor(`t${i}`, i, i === 1 ? 'intruder' : 'coord'),
      })
      expect(ready.records).toEqual([{ type: 'outcome', txId: `t${i}`, decision: 'abort' }])
    }
    const late = core.step({ type: 'message', message: lateOnePhasePrepare('t1', 1) })
    expect(late.requests).toEqual([])
    expect(late.messages).toMatchObject([{ type: 'vote', txId: 't1', vote: 'no', onePhase: true }])
    // A peer in doubt about a transaction this node never saw is still told abort (its own budget).
    const asked = core.step({
      type: 'message',
      message: { v: 2, type: 'decision-request', txId: 'other', from: 'peer', to: 'p', inc: 1 },
    })
    expect(asked.messages).toMatchObject([{ type: 'abort', txId: 'other', to: 'peer' }])
  })
})

describe('a core driven by a caller with a bug', () => {
  // Found by review: an unknown input blamed the library ("internal error"), recover(null) threw a TypeError.
  test('an unknown input type, or recover() given no array, is INVALID_REQUEST', () => {
    const core = new ParticipantCore({ id: 'p', random: () => 0.5 })
    expect(() => core.recover(null as never)).toThrow(
      expect.objectContaining({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('an array of log records'),
      }),
    )
    core.recover([])
    expect(() => core.step({ type: 'bogus' } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST', message: expect.stringContaining('got "bogus"') }),
    )
  })
})
