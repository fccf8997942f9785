import { CoordinatorCore, type CoordinatorCoreOptions, type CoordinatorInput } from '../core/coordinator.js'
import { invalidOption } from '../core/options.js'
import { ParticipantCore, type ParticipantCoreOptions, type ParticipantInput } from '../core/participant.js'
import type { CoordinatorCoreEvent, ParticipantCoreEvent, Ready } from '../core/ready.js'
import type { LogRecord } from '../core/records.js'
import type { NodeId, TxId } from '../core/types.js'
import { ReadyQueue } from '../runtime/ready-queue.js'

/** What the simulator and the model checker need of a core: the real one, or a mutant wrapped around it. */
export interface SimCore<Input, Event> {
  readonly id: NodeId
  /** Transactions in flight (L1 requires 0 on every node at the end). */
  readonly inFlight: number
  /** Rebuilds state from durable records, like the real core. */
  recover(records: readonly LogRecord[]): Ready<Event>
  /** Advances by one input, like the real core. */
  step(input: Input): Ready<Event>
}

/** A coordinator core as the simulator drives it. */
export type CoordinatorSimCore = SimCore<CoordinatorInput, CoordinatorCoreEvent>

/** A participant core as the simulator drives it. */
export type ParticipantSimCore = SimCore<ParticipantInput, ParticipantCoreEvent>

/**
 * Deliberately broken cores, for tests only ("teeth": a checker that cannot fail proves nothing).
 * Each wraps the REAL core and alters its `Ready`s; `src/core` is untouched.
 *
 * - `vote-before-prepared-durable`: the participant's `prepared` record is not forced, so
 *   `vote: yes` may leave before it is durable;
 * - `coordinator-forgets-before-acks`: right after deciding commit, the coordinator forgets the
 *   transaction (no commit retransmission; a `decision-request` is answered by presumed abort);
 * - `ack-before-outcome-durable`: the participant's `commit` outcome is not forced before its `ack`;
 * - `commit-not-forced`: the coordinator's `commit` record is not forced before `commit` is sent;
 * - `commit-for-unknown-transaction`: the coordinator answers a `decision-request` about a
 *   transaction it does not know with `commit` instead of presumed abort;
 * - `stale-prepare-accepted`: the participant ignores what a request is bound to (protocol
 *   version 1): a `prepare` meant for an earlier life, or older than what it forgot, is prepared
 *   again — the double apply (S7);
 * - `vote-from-outsider-counted`: the coordinator counts a vote from a node outside the
 *   transaction as the vote of its first participant (S3);
 * - `eviction-keeps-answering`: a participant on the log it created keeps answering peers'
 *   questions about transactions it does not know after it forgot a commit or a read-only vote
 *   (`rememberedTransactions`), so it may tell abort about one that committed (S1);
 * - `cooperative-abort-not-forced`: the abort a participant takes when a peer asks before it voted
 *   is not forced before the answer leaves;
 * - `recovery-skips-unended-commit`: the coordinator's recovery takes `commit` without `end` for
 *   finished: it stops resending commit and never writes `end`, so its log can never be compacted
 *   (L1, found only by the liveness checks);
 * - `runtime-releases-out-of-order`: the runtime's {@link ReadyQueue} lets a `Ready` with nothing
 *   to wait for run before earlier ones still waiting for their forced records — the runtime
 *   awaits only some of the forced records that come before a send (S2);
 * - `outcome-per-answer`: the participant forces its abort outcome again every time it answers a
 *   peer's `decision-request` with abort. Safe, but its log grows with every question: the model
 *   checker reports it as an unbounded log (not in {@link MUTANTS}, which break S1–S7 or L1);
 * - `ill-formed-vote`: the participant's votes carry incarnation 0, which no receiver accepts: the
 *   runtime would seal it unchecked, so the simulators' well-formedness check must refuse it (not
 *   in {@link MUTANTS} either: it breaks the wire, not an invariant).
 */
export type MutantName =
  | 'vote-before-prepared-durable'
  | 'coordinator-forgets-before-acks'
  | 'ack-before-outcome-durable'
  | 'commit-not-forced'
  | 'commit-for-unknown-transaction'
  | 'stale-prepare-accepted'
  | 'vote-from-outsider-counted'
  | 'eviction-keeps-answering'
  | 'cooperative-abort-not-forced'
  | 'recovery-skips-unended-commit'
  | 'runtime-releases-out-of-order'
  | 'outcome-per-answer'
  | 'ill-formed-vote'

/** Every mutant that breaks an invariant (S1–S7, or L1), in the order the tests report them. */
export const MUTANTS: readonly MutantName[] = [
  'vote-before-prepared-durable',
  'coordinator-forgets-before-acks',
  'ack-before-outcome-durable',
  'commit-not-forced',
  'commit-for-unknown-transaction',
  'stale-prepare-accepted',
  'vote-from-outsider-counted',
  'eviction-keeps-answering',
  'cooperative-abort-not-forced',
  'recovery-skips-unended-commit',
  'runtime-releases-out-of-order',
]

/** Every {@link MutantName}: those of {@link MUTANTS}, and the two that break no invariant. */
export const MUTANT_NAMES: readonly MutantName[] = [...MUTANTS, 'outcome-per-answer', 'ill-formed-vote']

/** Makes the cores of a simulated cluster; `createCores(mutant)` selects a broken one. */
export interface CoreFactory {
  /** Builds the coordinator core (real or mutant). */
  coordinator(options: CoordinatorCoreOptions): CoordinatorSimCore
  /** Builds a participant core (real or mutant). */
  participant(options: ParticipantCoreOptions): ParticipantSimCore
}

/**
 * The cores the simulator runs: the real ones, or (tests only) one of them wrapped by a mutant.
 * @param mutant - undefined for the real cores
 */
export function createCores(mutant?: MutantName): CoreFactory {
  if (mutant !== undefined && !MUTANT_NAMES.includes(mutant))
    invalidOption('mutant', `one of ${MUTANT_NAMES.join(', ')}`, mutant)
  return {
    coordinator(options) {
      switch (mutant) {
        case 'commit-not-forced':
          return new RewritingCore(new CoordinatorCore(options), unforce('commit'))
        case 'coordinator-forgets-before-acks':
          return new ForgetfulCoordinator(options)
        case 'commit-for-unknown-transaction':
          return new CommitForUnknownCoordinator(options)
        case 'vote-from-outsider-counted':
          return new OutsiderVoteCoordinator(new CoordinatorCore(options))
        case 'recovery-skips-unended-commit':
          return new UnendedCommitCoordinator(new CoordinatorCore(options))
        default:
          return new CoordinatorCore(options)
      }
    },
    participant(options) {
      switch (mutant) {
        case 'vote-before-prepared-durable':
          return new RewritingCore(new ParticipantCore(options), unforce('prepared'))
        case 'ack-before-outcome-durable':
          return new RewritingCore(new ParticipantCore(options), unforceCommitOutcome)
        case 'outcome-per-answer':
          return new RewritingCore(new ParticipantCore(options), forceEveryAbortAnswer)
        case 'ill-formed-vote':
          return new RewritingCore(new ParticipantCore(options), voteOfIncarnationZero)
        case 'stale-prepare-accepted':
          return new UnboundParticipant(new ParticipantCore(options))
        case 'eviction-keeps-answering':
          return new AlwaysAnsweringParticipant(new ParticipantCore(options))
        case 'cooperative-abort-not-forced':
          return new RewritingCore(new ParticipantCore(options), unforceAbortAnswer)
        default:
          return new ParticipantCore(options)
      }
    },
  }
}

/** A core that delegates to `inner`; each mutant overrides what it breaks. */
class WrappedCore<Input, Event, Inner extends SimCore<Input, Event> = SimCore<Input, Event>>
  implements SimCore<Input, Event>
{
  constructor(protected inner: Inner) {}

  get id(): NodeId {
    return this.inner.id
  }

  get inFlight(): number {
    return this.inner.inFlight
  }

  recover(records: readonly LogRecord[]): Ready<Event> {
    return this.inner.recover(records)
  }

  step(input: Input): Ready<Event> {
    return this.inner.step(input)
  }
}

/** A core whose every `Ready` passes through `rewrite`. */
class RewritingCore<Input, Event> extends WrappedCore<Input, Event> {
  constructor(
    inner: SimCore<Input, Event>,
    private readonly rewrite: (ready: Ready<Event>) => Ready<Event>,
  ) {
    super(inner)
  }

  override recover(records: readonly LogRecord[]): Ready<Event> {
    return this.rewrite(super.recover(records))
  }

  override step(input: Input): Ready<Event> {
    return this.rewrite(super.step(input))
  }
}

/** A rewrite that clears `forceRecords` on any `Ready` holding a record of type `type`. */
function unforce(type: LogRecord['type']) {
  return <Event>(ready: Ready<Event>): Ready<Event> =>
    ready.records.some((record) => record.type === type) ? { ...ready, forceRecords: false } : ready
}

/** Clears `forceRecords` on a participant `Ready` that writes a commit outcome and sends its `ack`. */
function unforceCommitOutcome<Event>(ready: Ready<Event>): Ready<Event> {
  const commits = ready.records.some((record) => record.type === 'outcome' && record.decision === 'commit')
  const acks = ready.messages.some((message) => message.type === 'ack')
  return commits && acks ? { ...ready, forceRecords: false } : ready
}

/** Forces an abort outcome with every `abort` a participant sends (to a peer: it answers a decision-request). */
function forceEveryAbortAnswer<Event>(ready: Ready<Event>): Ready<Event> {
  const answer = ready.messages.find((message) => message.type === 'abort')
  if (answer === undefined || ready.records.length > 0) return ready
  return {
    ...ready,
    records: [{ type: 'outcome', txId: answer.txId, decision: 'abort' }],
    forceRecords: true,
  }
}

/**
 * Forgets a transaction as soon as it decides commit: the wrapped core is replaced by a fresh one
 * recovered from the records logged so far minus that transaction's, as if it had written `end`.
 */
class ForgetfulCoordinator extends WrappedCore<CoordinatorInput, CoordinatorCoreEvent> {
  private readonly logged: LogRecord[] = []

  constructor(private readonly options: CoordinatorCoreOptions) {
    super(new CoordinatorCore(options))
  }

  override recover(records: readonly LogRecord[]): Ready<CoordinatorCoreEvent> {
    this.logged.push(...records)
    return super.recover(records)
  }

  override step(input: CoordinatorInput): Ready<CoordinatorCoreEvent> {
    const ready = super.step(input)
    this.logged.push(...ready.records)
    const forgotten = new Set<TxId>()
    for (const event of ready.events) {
      if (event.type === 'decided' && event.decision === 'commit') forgotten.add(event.txId)
    }
    if (forgotten.size === 0) return ready
    this.inner = new CoordinatorCore(this.options)
    const resumed = this.inner.recover(this.logged.filter((record) => !forgotten.has(record.txId)))
    return {
      ...ready,
      messages: [...ready.messages, ...resumed.messages],
      // No retransmission of the forgotten commit: that is the bug.
      timers: [...ready.timers.filter((timer) => !forgotten.has(timer.txId)), ...resumed.timers],
    }
  }
}

/** Answers `commit` to a `decision-request` about a transaction it has no trace of. */
class CommitForUnknownCoordinator extends WrappedCore<
  CoordinatorInput,
  CoordinatorCoreEvent,
  CoordinatorCore
> {
  constructor(options: CoordinatorCoreOptions) {
    super(new CoordinatorCore(options))
  }

  override step(input: CoordinatorInput): Ready<CoordinatorCoreEvent> {
    const unknown =
      input.type === 'message' &&
      input.message.type === 'decision-request' &&
      this.inner.status(input.message.txId).state === 'unknown'
    const ready = super.step(input)
    if (!unknown) return ready
    return {
      ...ready,
      messages: ready.messages.map((message) =>
        message.type === 'abort' ? { ...message, type: 'commit' as const } : message,
      ),
    }
  }
}

/** Gives every vote of a participant `Ready` the incarnation 0, below what any message may carry. */
function voteOfIncarnationZero<Event>(ready: Ready<Event>): Ready<Event> {
  if (!ready.messages.some((message) => message.type === 'vote')) return ready
  return {
    ...ready,
    messages: ready.messages.map((message) => (message.type === 'vote' ? { ...message, inc: 0 } : message)),
  }
}

/** Clears `forceRecords` on a participant `Ready` that answers a peer with abort (it aborted when asked, before voting). */
function unforceAbortAnswer<Event>(ready: Ready<Event>): Ready<Event> {
  const answers = ready.messages.some((message) => message.type === 'abort')
  return answers && ready.records.length > 0 ? { ...ready, forceRecords: false } : ready
}

/** Takes every request for the life it is and after everything it forgot: the protocol-version-1 participant. */
class UnboundParticipant extends WrappedCore<ParticipantInput, ParticipantCoreEvent, ParticipantCore> {
  override step(input: ParticipantInput): Ready<ParticipantCoreEvent> {
    if (input.type !== 'message') return super.step(input)
    const { message } = input
    const inc = this.inner.currentIncarnation
    const unbound = { inc, epoch: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER }
    if (message.type === 'prepare') return super.step({ ...input, message: { ...message, ...unbound } })
    if (message.type === 'abort' && message.ticket !== undefined)
      return super.step({ ...input, message: { ...message, ticket: unbound } })
    return super.step(input)
  }
}

/** Keeps answering peers about unknown transactions on the log it created, whatever it forgot. */
class AlwaysAnsweringParticipant extends WrappedCore<
  ParticipantInput,
  ParticipantCoreEvent,
  ParticipantCore
> {
  private createdLog = false

  override recover(records: readonly LogRecord[]): Ready<ParticipantCoreEvent> {
    this.createdLog = records.length === 0
    return super.recover(records)
  }

  override step(input: ParticipantInput): Ready<ParticipantCoreEvent> {
    // The bug: the flag that eviction clears is set again, as if nothing had been forgotten.
    if (this.createdLog) Reflect.set(this.inner, 'answersUnknown', true)
    return super.step(input)
  }
}

/** Counts a vote from a node outside the transaction as the vote of the transaction's first participant. */
class OutsiderVoteCoordinator extends WrappedCore<CoordinatorInput, CoordinatorCoreEvent, CoordinatorCore> {
  private readonly members = new Map<TxId, readonly NodeId[]>()

  override step(input: CoordinatorInput): Ready<CoordinatorCoreEvent> {
    if (input.type === 'begin') this.members.set(input.txId, [...input.participants.keys()])
    if (input.type === 'message' && input.message.type === 'vote') {
      const members = this.members.get(input.message.txId) ?? []
      const [first] = members
      if (first !== undefined && !members.includes(input.message.from))
        return super.step({ ...input, message: { ...input.message, from: first } })
    }
    return super.step(input)
  }
}

/** Recovers as if every `commit` record had its `end`: resends nothing and never ends it. */
class UnendedCommitCoordinator extends WrappedCore<CoordinatorInput, CoordinatorCoreEvent, CoordinatorCore> {
  override recover(records: readonly LogRecord[]): Ready<CoordinatorCoreEvent> {
    const ends: LogRecord[] = records
      .filter((record) => record.type === 'commit')
      .map((record) => ({ type: 'end', txId: record.txId }))
    return super.recover([...records, ...ends])
  }
}

/**
 * The runtime's queue of `Ready`s the simulator uses: the real {@link ReadyQueue}, or (tests only)
 * the `runtime-releases-out-of-order` mutant of it.
 */
export function createReadyQueue<T>(mutant?: MutantName): ReadyQueue<T> {
  return mutant === 'runtime-releases-out-of-order' ? new OvertakingQueue<T>() : new ReadyQueue<T>()
}

/** Releases the oldest entry that is durable, even past earlier ones still waiting for the disk. */
class OvertakingQueue<T> extends ReadyQueue<T> {
  override get releasable(): T | undefined {
    return this.queued().find((entry) => entry.durable)?.item
  }
}
