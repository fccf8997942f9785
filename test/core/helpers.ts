/**
 * Helpers for the unit tests of the pure core: cores with a deterministic `random`, message
 * builders, drivers that put a core into a named state, and small readers of a `Ready`.
 */
import { expect } from 'vitest'
import { CoordinatorCore, type CoordinatorCoreOptions } from '../../src/core/coordinator.js'
import { TwopcError } from '../../src/core/errors.js'
import {
  type AbortMessage,
  type AckMessage,
  type CommitMessage,
  type DecisionRequestMessage,
  type Message,
  PROTOCOL_VERSION,
  type PrepareMessage,
  type VoteMessage,
} from '../../src/core/messages.js'
import { ParticipantCore, type ParticipantCoreOptions } from '../../src/core/participant.js'
import type { DropReason, Ready, TimerEffect } from '../../src/core/ready.js'
import { CREATED_RECORD_TX_ID, incarnationTxId, type LogRecord } from '../../src/core/records.js'
import type { Json, NodeId, TxId, Vote } from '../../src/core/types.js'

/** The coordinator's id in every unit test. */
export const C = 'coord'
/** Participant ids. */
export const P1 = 'p1'
export const P2 = 'p2'
export const P3 = 'p3'
/** The transaction most tests use. */
export const TX = 'tx-1'

/** A deterministic `random`: the backoff jitter factor is always 0.75. */
export const random = (): number => 0.5

/** Default retransmission settings of the cores built here, so expected delays are easy to compute. */
export const RETRANSMIT_MS = 100
export const RETRANSMIT_MS_MAX = 1000
export const PREPARE_TIMEOUT_MS = 5000
/** How long the participants built here ask only the coordinator before asking their peers too. */
export const COOPERATIVE_MS = 1000

/** The delay `backoffDelayMs` returns for `attempt` with {@link random} and the defaults above. */
export function expectedDelayMs(attempt: number): number {
  return Math.round(Math.min(RETRANSMIT_MS_MAX, RETRANSMIT_MS * 2 ** attempt) * 0.75)
}

/**
 * A coordinator core with a deterministic `random`, not started yet (no `recover`): its epoch is
 * 0 until it is. Use {@link startedCoordinator} for one started as the runtime starts it.
 */
export function coordinator(options: Partial<CoordinatorCoreOptions> = {}): CoordinatorCore {
  return new CoordinatorCore({
    id: C,
    random,
    retransmitIntervalMs: RETRANSMIT_MS,
    retransmitIntervalMsMax: RETRANSMIT_MS_MAX,
    prepareTimeoutMs: PREPARE_TIMEOUT_MS,
    ...options,
  })
}

/**
 * A participant core with a deterministic `random`, not started yet (no `recover`): its
 * incarnation is 0 until it is. Use {@link startedParticipant} for one started as the runtime
 * starts it.
 */
export function participant(id: NodeId = P1, options: Partial<ParticipantCoreOptions> = {}): ParticipantCore {
  return new ParticipantCore({
    id,
    random,
    retransmitIntervalMs: RETRANSMIT_MS,
    retransmitIntervalMsMax: RETRANSMIT_MS_MAX,
    cooperativeTerminationAfterMs: COOPERATIVE_MS,
    ...options,
  })
}

/** A coordinator started on an empty log (`recover([])`): epoch 1. The start's Ready is discarded. */
export function startedCoordinator(options: Partial<CoordinatorCoreOptions> = {}): CoordinatorCore {
  const core = coordinator(options)
  core.recover([])
  return core
}

/** A participant started on an empty log (`recover([])`): incarnation 1. The start's Ready is discarded. */
export function startedParticipant(
  id: NodeId = P1,
  options: Partial<ParticipantCoreOptions> = {},
): ParticipantCore {
  const core = participant(id, options)
  core.recover([])
  return core
}

// ---------------------------------------------------------------------------------------------
// Records

/**
 * The incarnation record of `node`'s life `n`, which a node forces when it starts (`n` = 1 on an
 * empty log). It names its owner: {@link C} is the coordinator, every other id a participant.
 */
export function incarnation(n: number, node: NodeId = P1): LogRecord {
  const role = node === C ? 'coordinator' : 'participant'
  return { type: 'incarnation', txId: incarnationTxId(n), n, node, role }
}

/** The lazy `end` of the incarnation record of life `n`, written at the start of life `n + 1`. */
export function incarnationEnd(n: number): LogRecord {
  return { type: 'end', txId: incarnationTxId(n) }
}

/** The record participant {@link P1} forces when it starts on an empty log: its first incarnation. */
export const STARTED: LogRecord = incarnation(1)

/** The record `node` forces when it starts on an empty log: its first incarnation. */
export function started(node: NodeId): LogRecord {
  return incarnation(1, node)
}

/** The first record of a log written by protocol version 1 (`created`); version 2 reads it as incarnation 0. */
export const CREATED_V1: LogRecord = { type: 'created', txId: CREATED_RECORD_TX_ID }

// ---------------------------------------------------------------------------------------------
// Messages

const header = (txId: TxId, from: NodeId, to: NodeId) => ({ v: PROTOCOL_VERSION, txId, from, to }) as const

/** Message builders; defaults are the usual direction (coordinator → p1 or p1 → coordinator) for {@link TX}. */
export const msg = {
  prepare(
    options: {
      txId?: TxId
      from?: NodeId
      to?: NodeId
      payload?: Json
      participants?: readonly NodeId[]
      onePhase?: boolean
      /** The incarnation it is bound to (0: a probe). @default 1 (a participant's first life) */
      inc?: number
      /** The coordinator's incarnation. @default 1 */
      epoch?: number
      /** The transaction's place in the coordinator's order. @default 1 */
      seq?: number
    } = {},
  ): PrepareMessage {
    const to = options.to ?? P1
    return {
      ...header(options.txId ?? TX, options.from ?? C, to),
      type: 'prepare',
      payload: options.payload ?? { work: to },
      participants: options.participants ?? [P1, P2],
      onePhase: options.onePhase ?? false,
      inc: options.inc ?? 1,
      epoch: options.epoch ?? 1,
      seq: options.seq ?? 1,
    }
  },
  /** A vote; `onePhase: true` flags it as a one-phase participant's vote (its outcome). */
  vote(
    vote: Vote,
    options: { txId?: TxId; from?: NodeId; to?: NodeId; onePhase?: boolean; inc?: number } = {},
  ): VoteMessage {
    const message: VoteMessage = {
      ...header(options.txId ?? TX, options.from ?? P1, options.to ?? C),
      type: 'vote',
      vote,
      inc: options.inc ?? 1,
    }
    return options.onePhase ? { ...message, onePhase: true } : message
  },
  commit(options: { txId?: TxId; from?: NodeId; to?: NodeId } = {}): CommitMessage {
    return { ...header(options.txId ?? TX, options.from ?? C, options.to ?? P1), type: 'commit' }
  },
  /**
   * An abort; `onePhase: true` makes it a one-phase coordinator's abort request (see
   * {@link msg.abortRequest}), with the ticket `{ inc, epoch: 1, seq }` (defaults 1 and 1).
   */
  abort(
    options: { txId?: TxId; from?: NodeId; to?: NodeId; onePhase?: boolean; inc?: number; seq?: number } = {},
  ): AbortMessage {
    const message: AbortMessage = {
      ...header(options.txId ?? TX, options.from ?? C, options.to ?? P1),
      type: 'abort',
    }
    return options.onePhase
      ? { ...message, onePhase: true, ticket: { inc: options.inc ?? 1, epoch: 1, seq: options.seq ?? 1 } }
      : message
  },
  /** A one-phase coordinator's request to abort (it timed out or was cancelled): a flagged abort. */
  abortRequest(
    options: { txId?: TxId; from?: NodeId; to?: NodeId; inc?: number; seq?: number } = {},
  ): AbortMessage {
    return msg.abort({ ...options, onePhase: true })
  },
  /** An ack from the participant's life `inc` (default 1). */
  ack(options: { txId?: TxId; from?: NodeId; to?: NodeId; inc?: number } = {}): AckMessage {
    return {
      ...header(options.txId ?? TX, options.from ?? P1, options.to ?? C),
      type: 'ack',
      inc: options.inc ?? 1,
    }
  },
  /** A decision-request from the participant's life `inc` (default 1). */
  decisionRequest(
    options: { txId?: TxId; from?: NodeId; to?: NodeId; inc?: number } = {},
  ): DecisionRequestMessage {
    return {
      ...header(options.txId ?? TX, options.from ?? P1, options.to ?? C),
      type: 'decision-request',
      inc: options.inc ?? 1,
    }
  },
  /**
   * A participant's refusal: a `no` vote flagged `refused` with the `inc` of the request it refused
   * (`refused`, default 0: a probe), sent by its life `inc` (default 1).
   */
  refusal(
    options: { txId?: TxId; from?: NodeId; to?: NodeId; refused?: number; inc?: number } = {},
  ): VoteMessage {
    return {
      ...header(options.txId ?? TX, options.from ?? P1, options.to ?? C),
      type: 'vote',
      vote: 'no',
      refused: options.refused ?? 0,
      inc: options.inc ?? 1,
    }
  },
}

/** A `message` input. */
export const deliver = (message: Message) => ({ type: 'message', message }) as const

// ---------------------------------------------------------------------------------------------
// Reading a Ready

/** Messages of a Ready as compact strings `type from→to` (with the vote for votes), for readable assertions. */
export function sent(ready: Ready<unknown>): string[] {
  return ready.messages.map(describeMessage)
}

/**
 * A message as `type from→to`, `vote:yes from→to`; the one-phase flag shows as `(1pc)`:
 * `prepare(1pc) from→to`, `vote:yes(1pc) from→to` (a one-phase participant's vote, its outcome),
 * `abort(1pc) from→to` (a one-phase coordinator's abort request). A request bound to no
 * incarnation yet (`inc` 0) is a probe: `prepare(probe)`, `prepare(1pc,probe)`, `abort(1pc,probe)`;
 * a refusal is `vote:refused from→to`.
 */
export function describeMessage(message: Message): string {
  const flags: string[] = []
  if (
    (message.type === 'prepare' || message.type === 'vote' || message.type === 'abort') &&
    message.onePhase === true
  )
    flags.push('1pc')
  const inc =
    message.type === 'prepare' ? message.inc : message.type === 'abort' ? message.ticket?.inc : undefined
  if (inc === 0) flags.push('probe')
  const kind =
    message.type === 'vote'
      ? message.refused === undefined
        ? `vote:${message.vote}`
        : 'vote:refused'
      : message.type
  return `${kind}${flags.length === 0 ? '' : `(${flags.join(',')})`} ${message.from}→${message.to}`
}

/** The records of a Ready as `type` or `outcome:commit`. */
export function written(ready: Ready<unknown>): string[] {
  return ready.records.map((record) =>
    record.type === 'outcome' ? `outcome:${record.decision}` : record.type,
  )
}

/** The drop reasons of a Ready's `message-dropped` events. */
export function drops(ready: Ready<{ readonly type: string }>): DropReason[] {
  return ready.events.flatMap((event) =>
    event.type === 'message-dropped' ? [(event as unknown as { reason: DropReason }).reason] : [],
  )
}

/** Event types of a Ready, for quick "nothing but" assertions. */
export function eventTypes(ready: Ready<{ readonly type: string }>): string[] {
  return ready.events.map((event) => event.type)
}

/** Timer effects of a Ready as `set:kind@delay` / `clear:kind`. */
export function timers(ready: Ready<unknown>): string[] {
  return ready.timers.map(describeTimer)
}

function describeTimer(timer: TimerEffect): string {
  return timer.type === 'set-timer' ? `set:${timer.timer}@${timer.delayMs}` : `clear:${timer.timer}`
}

/** Resource requests of a Ready as `type txId`. */
export function requests(ready: Ready<unknown>): string[] {
  return ready.requests.map((request) => `${request.type} ${request.tx.txId}`)
}

/** Asserts that a Ready changes nothing and only reports the drop of a message for `reason`. */
export function expectDropped(ready: Ready<{ readonly type: string }>, reason: DropReason): void {
  expect({
    records: ready.records,
    messages: ready.messages,
    timers: ready.timers,
    requests: ready.requests,
    drops: drops(ready),
    events: ready.events.length,
  }).toEqual({ records: [], messages: [], timers: [], requests: [], drops: [reason], events: 1 })
}

/** Asserts that a Ready has no effect at all. */
export function expectNothing(ready: Ready<unknown>): void {
  expect(ready).toEqual({
    records: [],
    forceRecords: false,
    messages: [],
    timers: [],
    requests: [],
    events: [],
  })
}

// ---------------------------------------------------------------------------------------------
// Driving a coordinator into a state

/** The coordinator states a transaction can be in, as the tables of coordinator.test.ts name them. */
export type CoordinatorState =
  | 'preparing'
  | 'preparing, p1 voted yes'
  | 'one-phase'
  | 'one-phase, abort sent'
  | 'one-phase finished commit'
  | 'one-phase finished abort'
  | 'committing'
  | 'committing, p1 acked'
  | 'finished commit'
  | 'finished abort'
  | 'unknown'

/**
 * A coordinator with {@link TX} in `state`. Two-phase states have participants p1 and p2;
 * one-phase states have p1 only. It starts as the runtime starts it, on an empty log (epoch 1), so
 * it knows no participant's incarnation when it begins {@link TX}: its first prepares are probes
 * (`inc` 0), and it learns incarnation 1 from the votes of the states that have any. The Readys that
 * got it there are discarded.
 */
export function coordinatorIn(state: CoordinatorState, options: Partial<CoordinatorCoreOptions> = {}) {
  const core = startedCoordinator(options)
  const twoPhase = new Map<NodeId, Json>([
    [P1, { work: P1 }],
    [P2, { work: P2 }],
  ])
  const onePhase = new Map<NodeId, Json>([[P1, { work: P1 }]])
  switch (state) {
    case 'unknown':
      break
    case 'preparing':
      core.step({ type: 'begin', txId: TX, participants: twoPhase })
      break
    case 'preparing, p1 voted yes':
      core.step({ type: 'begin', txId: TX, participants: twoPhase })
      core.step(deliver(msg.vote('yes', { from: P1 })))
      break
    case 'one-phase':
      core.step({ type: 'begin', txId: TX, participants: onePhase })
      break
    case 'one-phase, abort sent':
      core.step({ type: 'begin', txId: TX, participants: onePhase })
      core.step({ type: 'timer', txId: TX, timer: 'prepare-timeout' })
      break
    case 'one-phase finished commit':
      core.step({ type: 'begin', txId: TX, participants: onePhase })
      core.step(deliver(msg.vote('yes', { onePhase: true })))
      break
    case 'one-phase finished abort':
      core.step({ type: 'begin', txId: TX, participants: onePhase })
      core.step(deliver(msg.vote('no', { onePhase: true })))
      break
    case 'committing':
      core.step({ type: 'begin', txId: TX, participants: twoPhase })
      core.step(deliver(msg.vote('yes', { from: P1 })))
      core.step(deliver(msg.vote('yes', { from: P2 })))
      break
    case 'committing, p1 acked':
      core.step({ type: 'begin', txId: TX, participants: twoPhase })
      core.step(deliver(msg.vote('yes', { from: P1 })))
      core.step(deliver(msg.vote('yes', { from: P2 })))
      core.step(deliver(msg.ack({ from: P1 })))
      break
    case 'finished commit':
      core.step({ type: 'begin', txId: TX, participants: twoPhase })
      core.step(deliver(msg.vote('yes', { from: P1 })))
      core.step(deliver(msg.vote('yes', { from: P2 })))
      core.step(deliver(msg.ack({ from: P1 })))
      core.step(deliver(msg.ack({ from: P2 })))
      break
    case 'finished abort':
      core.step({ type: 'begin', txId: TX, participants: twoPhase })
      core.step(deliver(msg.vote('no', { from: P1 })))
      break
  }
  return core
}

// ---------------------------------------------------------------------------------------------
// Driving a participant into a state

/** The participant states a transaction can be in, as the tables of participant.test.ts name them. */
export type ParticipantState =
  | 'unknown'
  | 'preparing'
  | 'preparing, aborted'
  | 'prepared'
  | 'applying commit'
  | 'applying abort'
  | 'applying abort after voting no'
  | 'finished commit'
  | 'finished abort'
  | 'finished abort after voting no'
  | 'finished read-only'
  | 'one-phase preparing'
  | 'one-phase preparing, aborted'
  | 'one-phase applying commit'
  | 'one-phase applied commit'
  | 'one-phase confirmed commit'
  | 'one-phase finished commit'
  | 'one-phase applying abort'
  | 'one-phase applied abort'
  | 'one-phase confirmed abort'
  | 'one-phase finished abort'
  | 'one-phase finished read-only'

/**
 * Participant p1 with {@link TX} in `state`, coordinator {@link C}, peers p1 and p2 (one-phase:
 * p1 alone). A one-phase outcome is over only once the resource applied it AND the coordinator
 * confirmed it: 'applying' is neither, 'applied' is applied and unconfirmed, 'confirmed' is
 * confirmed while the resource still applies it, 'finished' is both (forgotten, with an `end`). It
 * starts as the runtime starts it, on an empty log (`recover([])`, which forces the {@link STARTED}
 * record: incarnation 1), so it runs on the log it created and answers for transactions it does
 * not know. With `restarted`, it starts instead on a log holding only that record, as after a
 * restart whose log was compacted: it is incarnation 2 (and ends incarnation 1). Either way the
 * requests that drive it are bound to its current incarnation. Returns the core and every record
 * it asked to append (its log, all durable).
 */
export function participantIn(
  state: ParticipantState,
  options: Partial<ParticipantCoreOptions> = {},
  { restarted = false }: { readonly restarted?: boolean } = {},
) {
  const core = participant(P1, options)
  const log: LogRecord[] = restarted ? [STARTED] : []
  const run = (ready: Ready<unknown>) => {
    log.push(...ready.records)
    return ready
  }
  run(core.recover(restarted ? [STARTED] : []))
  const inc = core.currentIncarnation
  const onePhase = state.startsWith('one-phase')
  const prepare = onePhase ? msg.prepare({ participants: [P1], onePhase: true, inc }) : msg.prepare({ inc })
  const prepareWith = (vote: Vote) => {
    run(core.step(deliver(prepare)))
    run(core.step({ type: 'prepare-result', txId: TX, vote }))
  }
  switch (state) {
    case 'unknown':
      break
    case 'preparing':
    case 'one-phase preparing':
      run(core.step(deliver(prepare)))
      break
    case 'preparing, aborted':
      run(core.step(deliver(prepare)))
      run(core.step(deliver(msg.abort())))
      break
    case 'one-phase preparing, aborted':
      run(core.step(deliver(prepare)))
      run(core.step(deliver(msg.abortRequest({ inc }))))
      break
    case 'prepared':
      prepareWith('yes')
      break
    case 'applying commit':
      prepareWith('yes')
      run(core.step(deliver(msg.commit())))
      break
    case 'applying abort':
      prepareWith('yes')
      run(core.step(deliver(msg.abort())))
      break
    case 'applying abort after voting no':
    case 'one-phase applying abort':
      prepareWith('no')
      break
    case 'finished commit':
      prepareWith('yes')
      run(core.step(deliver(msg.commit())))
      run(core.step({ type: 'applied', txId: TX }))
      break
    case 'finished abort':
      prepareWith('yes')
      run(core.step(deliver(msg.abort())))
      run(core.step({ type: 'applied', txId: TX }))
      break
    case 'finished abort after voting no':
    case 'one-phase applied abort':
      prepareWith('no')
      run(core.step({ type: 'applied', txId: TX }))
      break
    case 'one-phase confirmed abort':
      prepareWith('no')
      run(core.step(deliver(msg.abort())))
      break
    case 'one-phase finished abort':
      prepareWith('no')
      run(core.step({ type: 'applied', txId: TX }))
      run(core.step(deliver(msg.abort())))
      break
    case 'finished read-only':
    case 'one-phase finished read-only':
      prepareWith('read-only')
      break
    case 'one-phase applying commit':
      prepareWith('yes')
      break
    case 'one-phase applied commit':
      prepareWith('yes')
      run(core.step({ type: 'applied', txId: TX }))
      break
    case 'one-phase confirmed commit':
      prepareWith('yes')
      run(core.step(deliver(msg.commit())))
      break
    case 'one-phase finished commit':
      prepareWith('yes')
      run(core.step({ type: 'applied', txId: TX }))
      run(core.step(deliver(msg.commit())))
      break
  }
  return { core, log }
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Runs `fn` and returns the `TwopcError` it throws; fails the test if it throws nothing or something else. */
export function thrownBy(fn: () => unknown): TwopcError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(TwopcError)
    return error as TwopcError
  }
  throw new Error('expected a TwopcError, but nothing was thrown')
}
