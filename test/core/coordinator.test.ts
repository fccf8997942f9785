import { describe, expect, test } from 'vitest'
import { CoordinatorCore } from '../../src/core/coordinator.js'
import { type Message, parseMessage } from '../../src/core/messages.js'
import type { DropReason } from '../../src/core/ready.js'
import type { Json, NodeId } from '../../src/core/types.js'
import {
  C,
  type CoordinatorState,
  coordinator,
  coordinatorIn,
  deliver,
  describeMessage,
  expectDropped,
  expectedDelayMs,
  expectNothing,
  incarnation,
  incarnationEnd,
  msg,
  P1,
  P2,
  P3,
  PREPARE_TIMEOUT_MS,
  random,
  sent,
  started,
  startedCoordinator,
  TX,
  thrownBy,
  timers,
} from './helpers.js'

const twoParticipants = new Map<NodeId, Json>([
  [P1, { debit: 100 }],
  [P2, { credit: 100 }],
])

describe('begin', () => {
  test('a two-phase begin sends prepare with its payload and the participant list to every participant, and writes nothing', () => {
    // A fresh coordinator knows no participant's incarnation: each prepare is a probe (inc 0),
    // stamped with its epoch (1: its first start) and the transaction's seq (1: its first).
    const core = startedCoordinator()
    const ready = core.step({ type: 'begin', txId: TX, participants: twoParticipants })
    expect(ready.messages).toEqual([
      {
        v: 2,
        type: 'prepare',
        txId: TX,
        from: C,
        to: P1,
        payload: { debit: 100 },
        participants: [P1, P2],
        onePhase: false,
        inc: 0,
        epoch: 1,
        seq: 1,
      },
      {
        v: 2,
        type: 'prepare',
        txId: TX,
        from: C,
        to: P2,
        payload: { credit: 100 },
        participants: [P1, P2],
        onePhase: false,
        inc: 0,
        epoch: 1,
        seq: 1,
      },
    ])
    expect(ready.records).toEqual([])
    expect(ready.forceRecords).toBe(false)
    expect(timers(ready)).toEqual([
      `set:prepare-timeout@${PREPARE_TIMEOUT_MS}`,
      `set:retransmit@${expectedDelayMs(0)}`,
    ])
    expect(ready.events).toEqual([])
    expect(core.status(TX)).toEqual({ state: 'preparing', votes: { [P1]: 'pending', [P2]: 'pending' } })
  })

  test('a single participant gets a one-phase prepare', () => {
    const core = startedCoordinator()
    const ready = core.step({ type: 'begin', txId: TX, participants: new Map([[P1, 'only']]) })
    expect(ready.messages).toEqual([
      {
        v: 2,
        type: 'prepare',
        txId: TX,
        from: C,
        to: P1,
        payload: 'only',
        participants: [P1],
        onePhase: true,
        inc: 0,
        epoch: 1,
        seq: 1,
      },
    ])
    expect(ready.records).toEqual([])
  })

  test('beginning a transaction id already in flight or remembered throws DUPLICATE_TRANSACTION', () => {
    for (const state of ['preparing', 'committing', 'finished commit', 'finished abort'] as const) {
      const core = coordinatorIn(state)
      const error = thrownBy(() => core.step({ type: 'begin', txId: TX, participants: twoParticipants }))
      expect(error.code, state).toBe('DUPLICATE_TRANSACTION')
    }
  })

  test('a begin without participants, naming the coordinator, or with a bad txId throws INVALID_REQUEST', () => {
    const core = startedCoordinator()
    expect(thrownBy(() => core.step({ type: 'begin', txId: TX, participants: new Map() })).code).toBe(
      'INVALID_REQUEST',
    )
    expect(thrownBy(() => core.step({ type: 'begin', txId: TX, participants: new Map([[C, 1]]) })).code).toBe(
      'INVALID_REQUEST',
    )
    expect(thrownBy(() => core.step({ type: 'begin', txId: '', participants: twoParticipants })).code).toBe(
      'INVALID_REQUEST',
    )
    expect(core.inFlight).toBe(0)
  })

  test.each(['~', '~log', '~tx-1'])(
    'a begin with a txId starting with ~ (%j, reserved for the records twopc writes about itself) throws INVALID_REQUEST',
    (txId) => {
      const core = startedCoordinator()
      const error = thrownBy(() => core.step({ type: 'begin', txId, participants: twoParticipants }))
      expect(error.code).toBe('INVALID_REQUEST')
      expect(error.message).toContain('`txId`')
      expect(core.inFlight).toBe(0)
      expect(core.status(txId)).toEqual(core.status('never-begun'))
      // A ~ further in is an ordinary character.
      expect(
        sent(core.step({ type: 'begin', txId: `t${txId}`, participants: twoParticipants })),
      ).toHaveLength(2)
    },
  )

  test('a coordinator at maxInFlightTransactions throws TOO_MANY_TRANSACTIONS until one completes', () => {
    const core = startedCoordinator({ maxInFlightTransactions: 2 })
    core.step({ type: 'begin', txId: 'a', participants: twoParticipants })
    core.step({ type: 'begin', txId: 'b', participants: twoParticipants })
    const error = thrownBy(() => core.step({ type: 'begin', txId: 'c', participants: twoParticipants }))
    expect(error.code).toBe('TOO_MANY_TRANSACTIONS')
    expect(error.message).toContain('maxInFlightTransactions')
    expect(core.inFlight).toBe(2)
    core.step(deliver(msg.vote('no', { txId: 'a' })))
    expect(core.inFlight).toBe(1)
    expect(sent(core.step({ type: 'begin', txId: 'c', participants: twoParticipants }))).toHaveLength(2)
  })
})

describe('durability', () => {
  test('the commit record is forced in the same Ready as the commit messages', () => {
    const ready = coordinatorIn('preparing, p1 voted yes').step(deliver(msg.vote('yes', { from: P2 })))
    expect(ready.records).toEqual([{ type: 'commit', txId: TX, participants: [P1, P2] }])
    expect(ready.forceRecords).toBe(true)
    expect(sent(ready)).toEqual([`commit ${C}→${P1}`, `commit ${C}→${P2}`])
    expect(ready.events).toEqual([{ type: 'decided', txId: TX, decision: 'commit' }])
  })

  test('the end record is lazy and written once every participant that voted yes acked', () => {
    const ready = coordinatorIn('committing, p1 acked').step(deliver(msg.ack({ from: P2 })))
    expect(ready.records).toEqual([{ type: 'end', txId: TX }])
    expect(ready.forceRecords).toBe(false)
    expect(ready.messages).toEqual([])
    expect(timers(ready)).toEqual(['clear:retransmit'])
    expect(ready.events).toEqual([{ type: 'completed', txId: TX, decision: 'commit' }])
  })

  test('an abort writes no record (presumed abort)', () => {
    for (const ready of [
      coordinatorIn('preparing').step(deliver(msg.vote('no'))),
      coordinatorIn('preparing').step({ type: 'timer', txId: TX, timer: 'prepare-timeout' }),
      coordinatorIn('preparing').step({ type: 'cancel', txId: TX }),
    ]) {
      expect(ready.records).toEqual([])
      expect(ready.forceRecords).toBe(false)
    }
  })
})

/** One row: the coordinator's transaction is in `state`, `message` arrives, and the Ready is checked. */
interface Row {
  readonly state: CoordinatorState
  readonly message: Message
  /** A drop reason, or the expected messages (as `sent()` strings) and event types. */
  readonly expect: DropReason | { readonly sent: string[]; readonly events: string[] }
}

const nothing = { sent: [], events: [] }
/** A one-phase participant's votes: flagged, because each is the outcome. */
const yes1pc = msg.vote('yes', { onePhase: true })
const no1pc = msg.vote('no', { onePhase: true })

const messageTable: Row[] = [
  // preparing (p1 and p2 asked, neither voted)
  { state: 'preparing', message: msg.prepare({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'preparing', message: msg.vote('yes'), expect: nothing },
  { state: 'preparing', message: msg.vote('read-only'), expect: nothing },
  {
    state: 'preparing',
    message: msg.vote('no'),
    expect: { sent: [`abort ${C}→${P2}`], events: ['decided', 'completed'] },
  },
  { state: 'preparing', message: msg.commit({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'preparing', message: msg.abort({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'preparing', message: msg.ack(), expect: 'unexpected' },
  { state: 'preparing', message: msg.decisionRequest(), expect: 'undecided' },
  { state: 'preparing', message: msg.vote('yes', { from: P3 }), expect: 'not-a-participant' },
  { state: 'preparing', message: msg.vote('no', { from: P3 }), expect: 'not-a-participant' },
  { state: 'preparing', message: msg.decisionRequest({ from: P3 }), expect: 'not-a-participant' },
  { state: 'preparing', message: msg.vote('no', { to: 'another-coordinator' }), expect: 'misrouted' },
  // preparing, p1 voted yes
  { state: 'preparing, p1 voted yes', message: msg.vote('yes'), expect: 'duplicate' },
  { state: 'preparing, p1 voted yes', message: msg.vote('no'), expect: 'duplicate' },
  {
    state: 'preparing, p1 voted yes',
    message: msg.vote('yes', { from: P2 }),
    expect: { sent: [`commit ${C}→${P1}`, `commit ${C}→${P2}`], events: ['decided'] },
  },
  {
    state: 'preparing, p1 voted yes',
    message: msg.vote('read-only', { from: P2 }),
    expect: { sent: [`commit ${C}→${P1}`], events: ['decided'] },
  },
  {
    state: 'preparing, p1 voted yes',
    message: msg.vote('no', { from: P2 }),
    expect: { sent: [`abort ${C}→${P1}`], events: ['decided', 'completed'] },
  },
  // one-phase (p1 alone decides; its flagged vote is the outcome, confirmed by commit or abort)
  { state: 'one-phase', message: msg.prepare({ from: P1, to: C }), expect: 'unexpected' },
  {
    state: 'one-phase',
    message: yes1pc,
    expect: { sent: [`commit ${C}→${P1}`], events: ['decided', 'completed'] },
  },
  {
    // Nothing to confirm: a read-only participant has nothing to forget.
    state: 'one-phase',
    message: msg.vote('read-only', { onePhase: true }),
    expect: { sent: [], events: ['decided', 'completed'] },
  },
  {
    state: 'one-phase',
    message: no1pc,
    expect: { sent: [`abort ${C}→${P1}`], events: ['decided', 'completed'] },
  },
  { state: 'one-phase', message: msg.vote('yes', { from: P2, onePhase: true }), expect: 'not-a-participant' },
  { state: 'one-phase', message: msg.commit({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'one-phase', message: msg.abort({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'one-phase', message: msg.abortRequest({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'one-phase', message: msg.ack(), expect: 'unexpected' },
  { state: 'one-phase', message: msg.decisionRequest(), expect: 'undecided' },
  { state: 'one-phase', message: msg.vote('yes', { to: P2, onePhase: true }), expect: 'misrouted' },
  // one-phase, abort sent (timed out: the participant was asked to abort; its vote still decides)
  {
    state: 'one-phase, abort sent',
    message: yes1pc,
    expect: { sent: [`commit ${C}→${P1}`], events: ['decided', 'completed'] },
  },
  {
    state: 'one-phase, abort sent',
    message: no1pc,
    expect: { sent: [`abort ${C}→${P1}`], events: ['decided', 'completed'] },
  },
  // A read-only vote may be stale here (from a life of the participant that forgot it, while a
  // later life takes the abort request): only the answer to the request, yes or no, decides.
  {
    state: 'one-phase, abort sent',
    message: msg.vote('read-only', { onePhase: true }),
    expect: 'unexpected',
  },
  { state: 'one-phase, abort sent', message: msg.decisionRequest(), expect: 'undecided' },
  // one-phase finished: a flagged vote (resent because the confirmation was lost) is confirmed again
  {
    state: 'one-phase finished commit',
    message: yes1pc,
    expect: { sent: [`commit ${C}→${P1}`], events: [] },
  },
  { state: 'one-phase finished commit', message: msg.vote('yes'), expect: 'duplicate' },
  {
    state: 'one-phase finished commit',
    message: msg.vote('read-only', { onePhase: true }),
    expect: 'duplicate',
  },
  {
    state: 'one-phase finished commit',
    message: msg.decisionRequest(),
    expect: { sent: [`commit ${C}→${P1}`], events: [] },
  },
  {
    state: 'one-phase finished abort',
    message: no1pc,
    expect: { sent: [`abort ${C}→${P1}`], events: [] },
  },
  { state: 'one-phase finished abort', message: msg.vote('no'), expect: 'duplicate' },
  {
    state: 'one-phase finished abort',
    message: msg.decisionRequest(),
    expect: { sent: [`abort ${C}→${P1}`], events: [] },
  },
  // committing (p1 and p2 voted yes, neither acked)
  { state: 'committing', message: msg.prepare({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'committing', message: msg.vote('yes'), expect: 'duplicate' },
  { state: 'committing', message: msg.vote('no'), expect: 'duplicate' },
  { state: 'committing', message: msg.vote('yes', { from: P3 }), expect: 'not-a-participant' },
  { state: 'committing', message: msg.commit({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'committing', message: msg.abort({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'committing', message: msg.ack(), expect: nothing },
  { state: 'committing', message: msg.ack({ from: P3 }), expect: 'not-a-participant' },
  {
    state: 'committing',
    message: msg.decisionRequest(),
    expect: { sent: [`commit ${C}→${P1}`], events: [] },
  },
  { state: 'committing', message: msg.decisionRequest({ from: P3 }), expect: 'not-a-participant' },
  { state: 'committing', message: msg.ack({ to: P2 }), expect: 'misrouted' },
  // committing, p1 acked
  { state: 'committing, p1 acked', message: msg.ack(), expect: 'duplicate' },
  {
    state: 'committing, p1 acked',
    message: msg.ack({ from: P2 }),
    expect: { sent: [], events: ['completed'] },
  },
  // finished commit
  { state: 'finished commit', message: msg.prepare({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'finished commit', message: msg.vote('yes'), expect: 'duplicate' },
  { state: 'finished commit', message: msg.commit({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'finished commit', message: msg.abort({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'finished commit', message: msg.ack(), expect: 'duplicate' },
  {
    state: 'finished commit',
    message: msg.decisionRequest(),
    expect: { sent: [`commit ${C}→${P1}`], events: [] },
  },
  // finished abort
  { state: 'finished abort', message: msg.prepare({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'finished abort', message: msg.vote('yes', { from: P2 }), expect: 'duplicate' },
  { state: 'finished abort', message: msg.commit({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'finished abort', message: msg.abort({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'finished abort', message: msg.ack(), expect: 'duplicate' },
  {
    state: 'finished abort',
    message: msg.decisionRequest({ from: P2 }),
    expect: { sent: [`abort ${C}→${P2}`], events: [] },
  },
  // unknown: never seen, or forgotten after a restart
  { state: 'unknown', message: msg.prepare({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'unknown', message: msg.vote('yes'), expect: 'unknown-transaction' },
  { state: 'unknown', message: msg.vote('no'), expect: 'unknown-transaction' },
  // A flagged vote is a one-phase participant's outcome: confirmed even when forgotten (after a restart).
  { state: 'unknown', message: yes1pc, expect: { sent: [`commit ${C}→${P1}`], events: [] } },
  { state: 'unknown', message: no1pc, expect: { sent: [`abort ${C}→${P1}`], events: [] } },
  {
    state: 'unknown',
    message: msg.vote('read-only', { onePhase: true }),
    expect: 'unknown-transaction',
  },
  { state: 'unknown', message: msg.commit({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'unknown', message: msg.abort({ from: P1, to: C }), expect: 'unexpected' },
  { state: 'unknown', message: msg.ack(), expect: 'unknown-transaction' },
  { state: 'unknown', message: msg.decisionRequest(), expect: { sent: [`abort ${C}→${P1}`], events: [] } },
  { state: 'unknown', message: msg.decisionRequest({ to: P2 }), expect: 'misrouted' },
]

describe('every message in every state', () => {
  test.each(
    messageTable.map(
      (row) =>
        [
          row.state,
          describeMessage(row.message),
          typeof row.expect === 'string'
            ? `drops it as ${row.expect}`
            : `sends [${row.expect.sent.join(', ')}] and emits [${row.expect.events.join(', ')}]`,
          row.message,
          row.expect,
        ] as const,
    ),
  )('a coordinator in state "%s" given %s %s', (state, _name, _outcome, message, expected) => {
    const core = coordinatorIn(state)
    const ready = core.step(deliver(message))
    if (typeof expected === 'string') {
      expectDropped(ready, expected)
      expect(ready.events).toEqual([{ type: 'message-dropped', reason: expected, message }])
    } else {
      expect(sent(ready)).toEqual(expected.sent)
      expect(ready.events.map((event) => event.type)).toEqual(expected.events)
    }
    // Nothing in this table is a commit decision, except the two rows that decide it.
    if (!ready.events.some((event) => event.type === 'decided' && event.decision === 'commit')) {
      expect(ready.records.filter((record) => record.type === 'commit')).toEqual([])
    }
  })

  test('a vote no aborts with reason vote-no and tells only those that did not vote no or read-only', () => {
    const core = coordinatorIn('preparing')
    core.step(deliver(msg.vote('read-only', { from: P2 })))
    const ready = core.step(deliver(msg.vote('no', { from: P1 })))
    expect(ready.messages).toEqual([])
    expect(ready.events).toEqual([
      { type: 'decided', txId: TX, decision: 'abort', reason: 'vote-no' },
      { type: 'completed', txId: TX, decision: 'abort' },
    ])
    expect(timers(ready)).toEqual(['clear:prepare-timeout', 'clear:retransmit'])
    expect(core.status(TX)).toEqual({ state: 'finished', decision: 'abort' })
  })

  test('when every participant votes read-only the transaction commits with no record and no phase 2', () => {
    const core = coordinatorIn('preparing')
    expectNothing(core.step(deliver(msg.vote('read-only', { from: P1 }))))
    const ready = core.step(deliver(msg.vote('read-only', { from: P2 })))
    expect(ready.records).toEqual([])
    expect(ready.messages).toEqual([])
    expect(ready.events).toEqual([
      { type: 'decided', txId: TX, decision: 'commit' },
      { type: 'completed', txId: TX, decision: 'commit' },
    ])
    expect(core.inFlight).toBe(0)
  })

  test('a read-only voter is not in the commit record and owes no ack', () => {
    const core = coordinatorIn('preparing')
    core.step(deliver(msg.vote('read-only', { from: P1 })))
    const ready = core.step(deliver(msg.vote('yes', { from: P2 })))
    expect(ready.records).toEqual([{ type: 'commit', txId: TX, participants: [P2] }])
    expect(sent(ready)).toEqual([`commit ${C}→${P2}`])
    expect(core.status(TX)).toEqual({ state: 'committing', pendingAcks: [P2] })
    expectDropped(core.step(deliver(msg.ack({ from: P1 }))), 'duplicate')
    expect(core.step(deliver(msg.ack({ from: P2 }))).records).toEqual([{ type: 'end', txId: TX }])
  })

  test('a one-phase vote is the outcome: yes commits and no aborts, with no record either way, and is confirmed', () => {
    const yes = coordinatorIn('one-phase').step(deliver(yes1pc))
    expect(yes.records).toEqual([])
    expect(yes.forceRecords).toBe(false)
    expect(yes.messages).toEqual([{ v: 2, type: 'commit', txId: TX, from: C, to: P1 }])
    expect(yes.events).toEqual([
      { type: 'decided', txId: TX, decision: 'commit' },
      { type: 'completed', txId: TX, decision: 'commit' },
    ])
    const no = coordinatorIn('one-phase').step(deliver(no1pc))
    expect(no.records).toEqual([])
    // The confirmation is a plain abort, not an abort request.
    expect(no.messages).toEqual([{ v: 2, type: 'abort', txId: TX, from: C, to: P1 }])
    expect(no.events).toEqual([
      { type: 'decided', txId: TX, decision: 'abort', reason: 'vote-no' },
      { type: 'completed', txId: TX, decision: 'abort' },
    ])
  })

  test('a confirmed one-phase transaction is confirmed again each time the participant resends its vote', () => {
    const core = coordinatorIn('one-phase')
    core.step(deliver(yes1pc))
    for (let i = 0; i < 3; i++) {
      const again = core.step(deliver(yes1pc))
      expect(sent(again)).toEqual([`commit ${C}→${P1}`])
      expect(again.records).toEqual([])
      expect(again.events).toEqual([])
      expect(again.timers).toEqual([])
    }
    expect(core.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
  })
})

describe('heuristic reports', () => {
  test('an ack reporting an outcome taken by hand that contradicts commit is reported, and still counts as the ack', () => {
    const core = coordinatorIn('committing, p1 acked')
    const ready = core.step(deliver({ ...msg.ack({ from: P2 }), heuristic: 'abort' }))
    expect(ready.events).toEqual([
      { type: 'heuristic-mismatch', txId: TX, participant: P2, decision: 'commit', heuristic: 'abort' },
      { type: 'completed', txId: TX, decision: 'commit' },
    ])
    expect(ready.records).toEqual([{ type: 'end', txId: TX }])
    expect(core.status(TX)).toEqual({ state: 'finished', decision: 'commit', heuristicMismatches: [P2] })
  })

  test('a heuristic outcome that agrees with the decision is not reported', () => {
    const ready = coordinatorIn('committing').step(deliver({ ...msg.ack(), heuristic: 'commit' }))
    expect(ready.events).toEqual([])
  })

  test('a forgotten transaction is presumed aborted when a heuristic commit is reported for it', () => {
    const ready = coordinatorIn('unknown').step(deliver({ ...msg.ack(), heuristic: 'commit' }))
    expect(ready.events.map((event) => event.type)).toEqual(['heuristic-mismatch', 'message-dropped'])
  })
})

describe('timers', () => {
  test('the prepare timeout aborts with reason prepare-timeout and tells every participant that may have voted yes', () => {
    const ready = coordinatorIn('preparing, p1 voted yes').step({
      type: 'timer',
      txId: TX,
      timer: 'prepare-timeout',
    })
    expect(sent(ready)).toEqual([`abort ${C}→${P1}`, `abort ${C}→${P2}`])
    expect(ready.records).toEqual([])
    expect(ready.events).toEqual([
      { type: 'decided', txId: TX, decision: 'abort', reason: 'prepare-timeout' },
      { type: 'completed', txId: TX, decision: 'abort' },
    ])
  })

  test('retransmission resends prepare only to participants that have not voted, with growing capped delays', () => {
    const core = coordinatorIn('preparing, p1 voted yes')
    const delays: number[] = []
    for (let attempt = 1; attempt <= 6; attempt++) {
      const ready = core.step({ type: 'timer', txId: TX, timer: 'retransmit' })
      // p2 has not answered yet, so its prepare is still a probe (inc 0), as at begin.
      expect(ready.messages).toEqual([
        {
          v: 2,
          type: 'prepare',
          txId: TX,
          from: C,
          to: P2,
          payload: { work: P2 },
          participants: [P1, P2],
          onePhase: false,
          inc: 0,
          epoch: 1,
          seq: 1,
        },
      ])
      expect(ready.timers).toHaveLength(1)
      const [timer] = ready.timers
      if (timer?.type !== 'set-timer') throw new Error('expected set-timer')
      expect(timer.timer).toBe('retransmit')
      delays.push(timer.delayMs)
    }
    // 100 ms doubling, capped at 1000 ms, scaled by the jitter factor 0.75 that random() = 0.5 gives.
    expect(delays).toEqual([150, 300, 600, 750, 750, 750])
  })

  test('retransmission resends commit only to participants that have not acked', () => {
    const core = coordinatorIn('committing, p1 acked')
    const first = core.step({ type: 'timer', txId: TX, timer: 'retransmit' })
    expect(sent(first)).toEqual([`commit ${C}→${P2}`])
    expect(first.records).toEqual([])
    expect(timers(first)).toEqual([`set:retransmit@${expectedDelayMs(1)}`])
    expect(timers(core.step({ type: 'timer', txId: TX, timer: 'retransmit' }))).toEqual([
      `set:retransmit@${expectedDelayMs(2)}`,
    ])
  })

  test('the backoff delay follows the injected random source', () => {
    const low = startedCoordinator({ random: () => 0 })
    expect(timers(low.step({ type: 'begin', txId: TX, participants: twoParticipants }))).toContain(
      'set:retransmit@50',
    )
    const high = startedCoordinator({ random: () => 0.999 })
    expect(timers(high.step({ type: 'begin', txId: TX, participants: twoParticipants }))).toContain(
      'set:retransmit@100',
    )
  })

  test('a one-phase coordinator retransmits the one-phase prepare until the vote arrives', () => {
    const ready = coordinatorIn('one-phase').step({ type: 'timer', txId: TX, timer: 'retransmit' })
    expect(sent(ready)).toEqual([`prepare(1pc,probe) ${C}→${P1}`])
  })

  test('a one-phase coordinator that times out sends an abort request and waits for the participant’s vote as the outcome', () => {
    const core = coordinatorIn('one-phase')
    const timeout = core.step({ type: 'timer', txId: TX, timer: 'prepare-timeout' })
    // With the ticket of the prepare: bound to no incarnation yet, since p1 has not answered.
    expect(timeout.messages).toEqual([
      {
        v: 2,
        type: 'abort',
        txId: TX,
        from: C,
        to: P1,
        onePhase: true,
        ticket: { inc: 0, epoch: 1, seq: 1 },
      },
    ])
    expect(timeout.records).toEqual([])
    expect(timeout.events).toEqual([])
    expect(timers(timeout)).toEqual(['clear:prepare-timeout', `set:retransmit@${expectedDelayMs(0)}`])
    expect(core.status(TX)).toEqual({ state: 'preparing', votes: { [P1]: 'pending' } })
    // Retransmitted with backoff until the vote arrives.
    const delays: number[] = []
    for (let attempt = 1; attempt <= 4; attempt++) {
      const retransmit = core.step({ type: 'timer', txId: TX, timer: 'retransmit' })
      expect(sent(retransmit)).toEqual([`abort(1pc,probe) ${C}→${P1}`])
      const [timer] = retransmit.timers
      if (timer?.type !== 'set-timer') throw new Error('expected set-timer')
      delays.push(timer.delayMs)
    }
    expect(delays).toEqual([150, 300, 600, 750])
    const vote = core.step(deliver(no1pc))
    expect(sent(vote)).toEqual([`abort ${C}→${P1}`])
    expect(vote.events).toEqual([
      { type: 'decided', txId: TX, decision: 'abort', reason: 'prepare-timeout' },
      { type: 'completed', txId: TX, decision: 'abort' },
    ])
    expect(timers(vote)).toEqual(['clear:prepare-timeout', 'clear:retransmit'])
  })

  test('a one-phase participant that committed before the timeout wins: its yes vote is the outcome, and is confirmed', () => {
    const core = coordinatorIn('one-phase, abort sent')
    const vote = core.step(deliver(yes1pc))
    expect(vote.events).toEqual([
      { type: 'decided', txId: TX, decision: 'commit' },
      { type: 'completed', txId: TX, decision: 'commit' },
    ])
    expect(vote.messages).toEqual([{ v: 2, type: 'commit', txId: TX, from: C, to: P1 }])
    expect(vote.records).toEqual([])
  })

  test.each([
    ['committing', 'prepare-timeout'],
    ['finished commit', 'prepare-timeout'],
    ['finished commit', 'retransmit'],
    ['finished abort', 'retransmit'],
    ['unknown', 'retransmit'],
    ['unknown', 'prepare-timeout'],
    ['preparing', 'decision-request'],
    ['one-phase, abort sent', 'prepare-timeout'],
  ] as const)('a stale timer in state "%s" (%s) does nothing', (state, timer) => {
    expectNothing(coordinatorIn(state).step({ type: 'timer', txId: TX, timer }))
  })
})

describe('cancel', () => {
  test('cancelling a preparing transaction aborts it with reason cancelled', () => {
    const core = coordinatorIn('preparing, p1 voted yes')
    const ready = core.step({ type: 'cancel', txId: TX })
    expect(sent(ready)).toEqual([`abort ${C}→${P1}`, `abort ${C}→${P2}`])
    expect(ready.events[0]).toEqual({ type: 'decided', txId: TX, decision: 'abort', reason: 'cancelled' })
    expect(core.inFlight).toBe(0)
  })

  test('cancelling a one-phase transaction asks the participant to abort and reports its vote with reason cancelled', () => {
    const core = coordinatorIn('one-phase')
    const ready = core.step({ type: 'cancel', txId: TX })
    expect(sent(ready)).toEqual([`abort(1pc,probe) ${C}→${P1}`])
    expect(ready.events).toEqual([])
    expectNothing(core.step({ type: 'cancel', txId: TX }))
    expect(sent(core.step({ type: 'timer', txId: TX, timer: 'retransmit' }))).toEqual([
      `abort(1pc,probe) ${C}→${P1}`,
    ])
    expect(core.step(deliver(no1pc)).events[0]).toEqual({
      type: 'decided',
      txId: TX,
      decision: 'abort',
      reason: 'cancelled',
    })
  })

  test.each(['committing', 'finished commit', 'finished abort', 'unknown'] as const)(
    'cancelling in state "%s" changes nothing',
    (state) => {
      const core = coordinatorIn(state)
      const before = core.status(TX)
      expectNothing(core.step({ type: 'cancel', txId: TX }))
      expect(core.status(TX)).toEqual(before)
    },
  )
})

describe('recovery', () => {
  test('an empty log recovers to a forced incarnation record (epoch 1) and nothing else', () => {
    expect(coordinator().recover([])).toEqual({
      records: [{ type: 'incarnation', txId: '~inc:1', n: 1, node: C, role: 'coordinator' }],
      forceRecords: true,
      messages: [],
      timers: [],
      requests: [],
      events: [],
    })
  })

  test('a commit record without end resends commit to every participant that owes an ack', () => {
    const core = coordinator()
    const ready = core.recover([started(C), { type: 'commit', txId: TX, participants: [P1, P2] }])
    expect(sent(ready)).toEqual([`commit ${C}→${P1}`, `commit ${C}→${P2}`])
    // Its second start: epoch 2, forced before the commits are resent; epoch 1 ended.
    expect(ready.records).toEqual([incarnation(2, C), incarnationEnd(1)])
    expect(ready.forceRecords).toBe(true)
    expect(timers(ready)).toEqual([`set:retransmit@${expectedDelayMs(0)}`])
    expect(core.status(TX)).toEqual({ state: 'committing', pendingAcks: [P1, P2] })
    expect(sent(core.step(deliver(msg.decisionRequest({ from: P2 }))))).toEqual([`commit ${C}→${P2}`])
    expect(sent(core.step({ type: 'timer', txId: TX, timer: 'retransmit' }))).toEqual([
      `commit ${C}→${P1}`,
      `commit ${C}→${P2}`,
    ])
    core.step(deliver(msg.ack({ from: P1 })))
    const last = core.step(deliver(msg.ack({ from: P2 })))
    expect(last.records).toEqual([{ type: 'end', txId: TX }])
    expect(last.events).toEqual([{ type: 'completed', txId: TX, decision: 'commit' }])
  })

  test('a commit record with its end is finished: nothing is resent and questions are answered commit', () => {
    const core = coordinator()
    expect(
      core.recover([
        started(C),
        { type: 'commit', txId: TX, participants: [P1, P2] },
        { type: 'end', txId: TX },
      ]),
    ).toEqual({
      records: [incarnation(2, C), incarnationEnd(1)],
      forceRecords: true,
      messages: [],
      timers: [],
      requests: [],
      events: [],
    })
    expect(core.status(TX)).toEqual({ state: 'finished', decision: 'commit' })
    expect(sent(core.step(deliver(msg.decisionRequest())))).toEqual([`commit ${C}→${P1}`])
    expect(thrownBy(() => core.step({ type: 'begin', txId: TX, participants: twoParticipants })).code).toBe(
      'DUPLICATE_TRANSACTION',
    )
  })

  test('a transaction with no record after a restart is presumed aborted', () => {
    const core = coordinator()
    core.recover([started(C)])
    expect(sent(core.step(deliver(msg.decisionRequest())))).toEqual([`abort ${C}→${P1}`])
    expectDropped(core.step(deliver(msg.vote('yes'))), 'unknown-transaction')
  })

  test('after a restart, a one-phase participant’s resent vote is confirmed as it is, with no record and no decision', () => {
    // The coordinator wrote nothing for the one-phase transaction and forgot it; the participant's
    // vote is its forced outcome, so confirming it lets the participant forget it too.
    const core = coordinator()
    expect(core.recover([started(C)]).records).toEqual([incarnation(2, C), incarnationEnd(1)])
    for (const [vote, confirmation] of [
      ['yes', 'commit'],
      ['no', 'abort'],
    ] as const) {
      const ready = core.step(deliver(msg.vote(vote, { txId: `t-${vote}`, onePhase: true })))
      expect(ready.messages).toEqual([{ v: 2, type: confirmation, txId: `t-${vote}`, from: C, to: P1 }])
      expect(ready.records).toEqual([])
      expect(ready.events).toEqual([])
      expect(ready.timers).toEqual([])
      expect(core.inFlight).toBe(0)
      expect(core.status(`t-${vote}`)).toEqual({ state: 'unknown' })
    }
  })

  test('only the transactions without end are resumed, each with its own participants', () => {
    const core = coordinator()
    const ready = core.recover([
      started(C),
      { type: 'commit', txId: 'a', participants: [P1, P2] },
      { type: 'commit', txId: 'b', participants: [P3] },
      { type: 'end', txId: 'a' },
    ])
    expect(sent(ready)).toEqual([`commit ${C}→${P3}`])
    expect(core.inFlight).toBe(1)
    expect(core.status('a')).toEqual({ state: 'finished', decision: 'commit' })
  })

  test('recover may be called only once, before any step', () => {
    const core = coordinator()
    core.recover([])
    expect(thrownBy(() => core.recover([])).code).toBe('INVALID_REQUEST')
    expect(thrownBy(() => coordinatorIn('preparing').recover([])).code).toBe('INVALID_REQUEST')
    // Stepping first is a caller bug too, and changes nothing.
    const fresh = coordinator()
    expect(thrownBy(() => fresh.step({ type: 'begin', txId: TX, participants: twoParticipants })).code).toBe(
      'INVALID_REQUEST',
    )
    expect(fresh.inFlight).toBe(0)
  })
})

describe('options', () => {
  const base = { id: C, random }
  test.each([
    ['id', { ...base, id: '' }],
    ['id', { ...base, id: 'bad\nid' }],
    ['random', { ...base, random: 0.5 }],
    ['retransmitIntervalMs', { ...base, retransmitIntervalMs: 0 }],
    ['retransmitIntervalMs', { ...base, retransmitIntervalMs: 1.5 }],
    ['retransmitIntervalMs', { ...base, retransmitIntervalMs: '100' }],
    ['retransmitIntervalMsMax', { ...base, retransmitIntervalMsMax: -1 }],
    ['retransmitIntervalMsMax', { ...base, retransmitIntervalMs: 500, retransmitIntervalMsMax: 100 }],
    ['maxInFlightTransactions', { ...base, maxInFlightTransactions: 0 }],
    ['rememberedTransactions', { ...base, rememberedTransactions: Number.NaN }],
    ['prepareTimeoutMs', { ...base, prepareTimeoutMs: -1 }],
  ])('an invalid `%s` throws INVALID_OPTIONS naming it', (name, options) => {
    const error = thrownBy(() => new CoordinatorCore(options as never))
    expect(error.code).toBe('INVALID_OPTIONS')
    expect(error.message).toContain(`\`${name}\``)
  })

  test('the message says what was expected and what was found', () => {
    expect(thrownBy(() => coordinator({ prepareTimeoutMs: -1 })).message).toBe(
      'Expected `prepareTimeoutMs` to be a positive integer of milliseconds, at most 2147483647, got -1',
    )
  })

  test('options that are not an object throw INVALID_OPTIONS', () => {
    expect(thrownBy(() => new CoordinatorCore(null as never)).code).toBe('INVALID_OPTIONS')
  })
})

/**
 * Teaches `core` that p1 is in life `inc`: a decision-request from p1 about a transaction in flight
 * with it (the only messages a coordinator learns lives from), which is then cancelled.
 */
function teach(core: CoordinatorCore, inc: number, txId: string): void {
  core.step({ type: 'begin', txId, participants: twoParticipants })
  core.step(deliver(msg.decisionRequest({ txId, from: P1, inc })))
  core.step({ type: 'cancel', txId })
}

describe('incarnations (protocol v2)', () => {
  test('a life is learned only from a participant of a transaction in flight: not from an outsider, nor about a transaction no longer known', () => {
    const core = startedCoordinator()
    core.step(deliver(msg.decisionRequest({ txId: 'gone', from: P1, inc: 7 })))
    core.step(begin(TX))
    core.step(deliver(msg.vote('yes', { from: P3, inc: 9 })))
    core.step(deliver(msg.refusal({ from: P3, refused: 0, inc: 9 })))
    const next = core.step(begin('next'))
    expect(next.messages.map((message) => ticketOf(message)?.inc)).toEqual([0, 0])
  })

  const onlyP1 = new Map<NodeId, Json>([[P1, { work: P1 }]])
  const begin = (txId: string, participants: ReadonlyMap<NodeId, Json> = twoParticipants) =>
    ({ type: 'begin', txId, participants }) as const
  /** The ticket (`inc`, `epoch`, `seq`) of a prepare or of a one-phase abort request. */
  const ticketOf = (message: Message | undefined) => {
    if (message?.type === 'prepare') return { inc: message.inc, epoch: message.epoch, seq: message.seq }
    if (message?.type === 'abort') return message.ticket
    throw new Error(`expected a prepare or an abort request, got ${message?.type}`)
  }

  test.each([
    ['an empty log', [], [incarnation(1, C)]],
    ['the log of epoch 1', [incarnation(1, C)], [incarnation(2, C), incarnationEnd(1)]],
    [
      'the log of epochs 1 and 2, not compacted',
      [
        incarnation(1, C),
        { type: 'commit', txId: 'a', participants: [P1] },
        incarnation(2, C),
        incarnationEnd(1),
      ],
      [incarnation(3, C), incarnationEnd(2)],
    ],
    ['the log of epoch 2, compacted', [incarnation(2, C)], [incarnation(3, C), incarnationEnd(2)]],
  ] as const)(
    'recover on %s forces the incarnation record (its epoch) n = last + 1 and ends the previous one',
    (_name, log, expected) => {
      const core = coordinator()
      const ready = core.recover(log)
      expect(ready.records.slice(0, expected.length)).toEqual(expected)
      expect(ready.forceRecords).toBe(true)
      // Its requests carry that epoch.
      const epoch = (expected[0] as { n: number }).n
      expect(ticketOf(core.step(begin(TX)).messages[0])).toEqual({ inc: 0, epoch, seq: 1 })
    },
  )

  test.each([false, true])(
    'a fresh coordinator probes (inc 0); a refusal of the probe makes it ask again bound to the refusing incarnation, without deciding (one-phase: %s)',
    (onePhase) => {
      const core = startedCoordinator()
      const first = core.step(begin(TX, onePhase ? onlyP1 : twoParticipants))
      const toP1 = first.messages.find((m) => m.to === P1)
      expect(ticketOf(toP1)).toEqual({ inc: 0, epoch: 1, seq: 1 })
      expect(describeMessage(toP1 as Message)).toBe(`prepare(${onePhase ? '1pc,' : ''}probe) ${C}→${P1}`)
      const ready = core.step(deliver(msg.refusal({ refused: 0, inc: 3 })))
      // The same prepare, bound to life 3 of p1: nothing decided, nothing written, no timer changed.
      expect(ready.messages).toEqual([{ ...toP1, inc: 3 }])
      expect(ready.records).toEqual([])
      expect(ready.timers).toEqual([])
      expect(ready.events).toEqual([])
      expect(core.status(TX)).toEqual({
        state: 'preparing',
        votes: onePhase ? { [P1]: 'pending' } : { [P1]: 'pending', [P2]: 'pending' },
      })
      // Retransmissions are bound to it too (p2, not heard from, is still probed).
      const again = core.step({ type: 'timer', txId: TX, timer: 'retransmit' })
      expect(again.messages.map((m) => [m.to, ticketOf(m)?.inc])).toEqual(
        onePhase
          ? [[P1, 3]]
          : [
              [P1, 3],
              [P2, 0],
            ],
      )
      // The answer of life 3 counts as a vote.
      const vote = core.step(deliver(msg.vote('yes', { inc: 3, onePhase })))
      expect(vote.events.map((e) => e.type)).toEqual(onePhase ? ['decided', 'completed'] : [])
      if (!onePhase)
        expect(core.status(TX)).toEqual({ state: 'preparing', votes: { [P1]: 'yes', [P2]: 'pending' } })
    },
  )

  test.each([
    ['a yes vote', msg.vote('yes', { inc: 2 })],
    ['a no vote', msg.vote('no', { inc: 2 })],
    ['a refusal of the probe', msg.refusal({ refused: 0, inc: 2 })],
    ['an ack', msg.ack({ inc: 2 })],
    ['a decision-request', msg.decisionRequest({ inc: 2 })],
  ] as const)(
    'after it learned an incarnation from %s, the next transaction’s prepare is bound to it directly',
    (_name, message) => {
      const core = startedCoordinator()
      // A transaction in any state that the message may be about; only its `inc` matters here.
      core.step(begin(TX))
      if (message.type === 'ack') {
        core.step(deliver(msg.vote('yes', { from: P1, inc: 2 })))
        core.step(deliver(msg.vote('yes', { from: P2 })))
      }
      core.step(deliver(message))
      for (const [txId, participants] of [
        ['next', twoParticipants],
        ['next-1pc', onlyP1],
      ] as const) {
        const ready = core.step(begin(txId, participants))
        const toP1 = ready.messages.find((m) => m.to === P1)
        expect(ticketOf(toP1)?.inc, txId).toBe(2)
        expect(describeMessage(toP1 as Message)).not.toContain('probe')
        // p2 is probed, unless it voted (with its life 1) on TX.
        if (participants.size === 2)
          expect(ticketOf(ready.messages.find((m) => m.to === P2))?.inc).toBe(message.type === 'ack' ? 1 : 0)
      }
      // A later life replaces an earlier one; an earlier one never replaces a later one.
      teach(core, 1, 'teach-1')
      expect(ticketOf(core.step(begin('after-older')).messages[0])?.inc).toBe(2)
      teach(core, 5, 'teach-2')
      expect(ticketOf(core.step(begin('after-newer')).messages[0])?.inc).toBe(5)
    },
  )

  test('a refusal of a prepare bound to the refusing life’s incarnation aborts with reason refused', () => {
    for (const how of ['learned', 'rebound after a probe'] as const) {
      const core = startedCoordinator()
      if (how === 'learned') teach(core, 2, 'teach-3')
      core.step(begin(TX))
      if (how === 'rebound after a probe') core.step(deliver(msg.refusal({ refused: 0, inc: 2 })))
      // p1's life 2 restarted since: life 3 refuses the prepare bound to 2.
      const ready = core.step(deliver(msg.refusal({ refused: 2, inc: 3 })))
      expect(ready.events, how).toEqual([
        { type: 'decided', txId: TX, decision: 'abort', reason: 'refused' },
        { type: 'completed', txId: TX, decision: 'abort' },
      ])
      // The refuser prepared nothing; p2 may have, so it is told.
      expect(sent(ready), how).toEqual([`abort ${C}→${P2}`])
      expect(ready.records, how).toEqual([])
      expect(core.status(TX), how).toEqual({ state: 'finished', decision: 'abort' })
    }
  })

  test('a one-phase transaction whose bound prepare is refused aborts with reason refused', () => {
    const core = startedCoordinator()
    teach(core, 2, 'teach-4')
    core.step(begin(TX, onlyP1))
    const ready = core.step(deliver(msg.refusal({ refused: 2, inc: 3 })))
    expect(ready.events).toEqual([
      { type: 'decided', txId: TX, decision: 'abort', reason: 'refused' },
      { type: 'completed', txId: TX, decision: 'abort' },
    ])
    expect(ready.records).toEqual([])
  })

  test('a late copy of the refusal of the probe (refused 0), after the rebinding, is dropped as stale and does not abort', () => {
    for (const onePhase of [false, true]) {
      const core = startedCoordinator()
      core.step(begin(TX, onePhase ? onlyP1 : twoParticipants))
      core.step({ type: 'timer', txId: TX, timer: 'retransmit' }) // a second probe: two refusals will come
      core.step(deliver(msg.refusal({ refused: 0, inc: 1 }))) // rebinds to 1
      const late = msg.refusal({ refused: 0, inc: 1 })
      expectDropped(core.step(deliver(late)), 'stale')
      expect(core.status(TX).state, String(onePhase)).toBe('preparing')
    }
  })

  test('a vote from a life before the one the transaction is bound to is dropped as stale', () => {
    const core = startedCoordinator()
    teach(core, 2, 'teach-5')
    core.step(begin(TX))
    for (const stale of [
      msg.vote('yes', { inc: 1 }),
      msg.vote('no', { inc: 1 }),
      msg.vote('read-only', { inc: 1 }),
    ]) {
      expectDropped(core.step(deliver(stale)), 'stale')
    }
    expect(core.status(TX)).toEqual({ state: 'preparing', votes: { [P1]: 'pending', [P2]: 'pending' } })
    // The bound life's vote counts.
    core.step(deliver(msg.vote('yes', { inc: 2 })))
    expect(core.status(TX)).toEqual({ state: 'preparing', votes: { [P1]: 'yes', [P2]: 'pending' } })
  })

  test('a participant whose log was reset (a lower life refusing a request bound to a later one) aborts the transaction, and the next one is bound to the life it is', () => {
    const core = startedCoordinator()
    teach(core, 5, 'teach-6')
    core.step(begin(TX))
    const ready = core.step(deliver(msg.refusal({ refused: 5, inc: 1 })))
    expect(ready.events).toContainEqual({ type: 'decided', txId: TX, decision: 'abort', reason: 'refused' })
    const next = core.step(begin('next'))
    const prepareToP1 = next.messages.find((message) => message.to === P1)
    expect(prepareToP1).toMatchObject({ type: 'prepare', inc: 1 })
  })

  test('seq grows by one per begin, one-phase or not, and epoch is the coordinator’s incarnation', () => {
    const core = coordinator()
    core.recover([incarnation(1, C), incarnation(2, C), incarnationEnd(1)])
    const tickets = ['a', 'b', 'c', 'd'].map((txId, i) =>
      ticketOf(core.step(begin(txId, i % 2 === 0 ? twoParticipants : onlyP1)).messages[0]),
    )
    expect(tickets).toEqual([
      { inc: 0, epoch: 3, seq: 1 },
      { inc: 0, epoch: 3, seq: 2 },
      { inc: 0, epoch: 3, seq: 3 },
      { inc: 0, epoch: 3, seq: 4 },
    ])
    // Every participant of one transaction gets the same seq.
    expect(core.step(begin('e')).messages.map((m) => ticketOf(m)?.seq)).toEqual([5, 5])
    // A one-phase abort request carries the ticket of its prepare.
    core.step(begin('f', onlyP1))
    expect(ticketOf(core.step({ type: 'cancel', txId: 'f' }).messages[0])).toEqual({
      inc: 0,
      epoch: 3,
      seq: 6,
    })
    // After a restart, seq starts again at 1 in the next epoch.
    const restarted = coordinator()
    restarted.recover([incarnation(2, C), incarnation(3, C), incarnationEnd(2)])
    expect(ticketOf(restarted.step(begin('g')).messages[0])).toEqual({ inc: 0, epoch: 4, seq: 1 })
  })
})

describe('stateOf', () => {
  const states: CoordinatorState[] = [
    'preparing',
    'preparing, p1 voted yes',
    'one-phase',
    'one-phase, abort sent',
    'one-phase finished commit',
    'one-phase finished abort',
    'committing',
    'committing, p1 acked',
    'finished commit',
    'finished abort',
    'unknown',
  ]
  test.each(states)('is the state status() reports, in state %s', (state) => {
    const core = coordinatorIn(state)
    expect(core.stateOf(TX)).toBe(core.status(TX).state)
  })
})

describe('a core driven by a caller with a bug', () => {
  test('an unknown input type, or recover() given no array, is INVALID_REQUEST', () => {
    const core = new CoordinatorCore({ id: 'c', random: () => 0.5 })
    expect(() => core.recover(undefined as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST' }),
    )
    core.recover([])
    expect(() => core.step(null as never)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }))
    expect(() => core.step({ type: 'commit-now' } as never)).toThrow(
      expect.objectContaining({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('got "commit-now"'),
      }),
    )
  })
})

describe('begin applies the payload rule to what a caller of the core passes', () => {
  // Found by review: the core took any payload, and built prepares its own parseMessage refused.
  test.each([
    ['a BigInt', { amount: 10n }, '$.amount'],
    ['NaN', { ratio: Number.NaN }, '$.ratio'],
    ['undefined', undefined, '$'],
  ])('%s is INVALID_REQUEST naming the path, and the transaction is not begun', (_, payload, path) => {
    const core = new CoordinatorCore({ id: 'c', random: () => 0.5 })
    core.recover([])
    const begin = (p: unknown) =>
      core.step({
        type: 'begin',
        txId: 't',
        participants: new Map([
          ['a', p as never],
          ['b', 1],
        ]),
      })
    expect(() => begin(payload)).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST', message: expect.stringContaining(`at ${path}`) }),
    )
    const ready = begin({ amount: 10 })
    expect(ready.messages.map((message) => parseMessage(message))).toHaveLength(2)
  })
})

test('begin keeps the participants in the order given when it checks their payloads', () => {
  // Found by review: the check went through an object, which puts integer-like keys first.
  const core = new CoordinatorCore({ id: 'c', random: () => 0.5 })
  core.recover([])
  const ready = core.step({
    type: 'begin',
    txId: 't',
    participants: new Map<string, Json>([
      ['b', { x: 1 }],
      ['2', 1],
    ]),
  })
  expect(ready.messages.map((message) => message.to)).toEqual(['b', '2'])
})
