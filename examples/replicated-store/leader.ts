/**
 * The leader: the one node that writes. Every put and delete is one two-phase commit across the
 * current replica set, so either every replica applies it or none does. Reads do not come here:
 * any replica serves them from its own data.
 */
import { randomBytes } from 'node:crypto'
import type { CommitOutcome, Coordinator, Json, NodeId, TxId } from '../../src/index.js'
import { changeMembership, type MembershipChange, MembershipChangeError } from './membership.js'
import { type DeleteOperation, type Operation, type PutOperation, parseOperation } from './operations.js'
import type { ReplicaDirectory } from './replica-api.js'
import { ReadWriteLock } from './rw-lock.js'
import { EMPTY_STATE, type Membership } from './store.js'

/** Options of a {@link Leader}. */
export interface LeaderOptions {
  /** The coordinator that runs every transaction; the leader starts and closes it. */
  readonly coordinator: Coordinator
  /** The replicas the leader may reach (to learn the set, copy snapshots). */
  readonly replicas: ReplicaDirectory
  /**
   * How long a membership change waits for the members to finish their staged writes.
   * @default 5000
   */
  readonly quiesceTimeoutMs?: number
  /**
   * How long a membership change waits, once committed, for every member to apply it.
   * @default 5000
   */
  readonly applyTimeoutMs?: number
}

/** Options of a write. */
export interface WriteOptions {
  /**
   * Commit only if the key is at this version on every replica (0: never written). Read it with
   * `replica.get(key)`. A mismatch makes the replicas vote no: the write aborts with `vote-no`.
   */
  readonly expectedVersion?: number
  /** The transaction id, if the caller wants to know it before the outcome. Must be unique. @default a fresh id */
  readonly txId?: TxId
}

/**
 * Applies writes to every replica with two-phase commit and changes the replica set.
 *
 * What it guarantees: a write that resolved with `decision: 'commit'` is on every replica of the
 * set (once they have applied it) and survives crashes of any node; one that resolved with `abort`
 * is on none. What it costs: a write needs **every** replica of the set to vote, so while one is
 * down, writes abort (`prepare-timeout`) until it returns or is removed — reads stay available.
 * Once a replica restarts, a write may still abort `refused` (it was bound to the replica's previous
 * life, and nothing was done anywhere) until the coordinator has heard from the new life; such a
 * write is safe to retry with a new transaction id.
 *
 * @example
 * ```ts
 * const leader = new Leader({ coordinator, replicas })
 * await leader.start()
 * await leader.bootstrap(['replica-1', 'replica-2', 'replica-3'])
 * const outcome = await leader.put('user:ada', { name: 'Ada' })
 * ```
 */
export class Leader {
  private readonly coordinator: Coordinator
  private readonly replicas: ReplicaDirectory
  private readonly quiesceTimeoutMs: number
  private readonly applyTimeoutMs: number
  private readonly lock = new ReadWriteLock()
  /** Ids of this incarnation's transactions: unique across restarts, readable in traces. */
  private readonly txIdPrefix = randomBytes(3).toString('hex')
  private sequence = 0
  private view: Membership = EMPTY_STATE.membership
  private readonly closing = new AbortController()

  constructor(options: LeaderOptions) {
    this.coordinator = options.coordinator
    this.replicas = options.replicas
    this.quiesceTimeoutMs = options.quiesceTimeoutMs ?? 5000
    this.applyTimeoutMs = options.applyTimeoutMs ?? 5000
  }

  /** The replica set as the leader knows it. */
  get membership(): Membership {
    return this.view
  }

  /** Starts the coordinator (which finishes what a previous incarnation decided) and learns the set from the replicas. */
  async start(): Promise<void> {
    await this.coordinator.start()
    await this.refresh()
  }

  /** Writes `value` at `key` on every replica of the set, atomically. Resolves with the decision. */
  put(key: string, value: Json, options: WriteOptions = {}): Promise<CommitOutcome> {
    return this.write(options, (epoch) => ({ type: 'put', epoch, key, value, ...condition(options) }))
  }

  /** Deletes `key` on every replica of the set, atomically. Resolves with the decision. */
  delete(key: string, options: WriteOptions = {}): Promise<CommitOutcome> {
    return this.write(options, (epoch) => ({ type: 'delete', epoch, key, ...condition(options) }))
  }

  /** Forms the first set from replicas that never joined one: a membership transaction from epoch 0. */
  bootstrap(members: readonly NodeId[]): Promise<MembershipChange> {
    return this.changeTo(() => members)
  }

  /** Adds replica `id`: it copies a snapshot from a member, then a membership transaction over all of them adds it. */
  addReplica(id: NodeId): Promise<MembershipChange> {
    return this.changeTo((view) => (view.members.includes(id) ? undefined : [...view.members, id]))
  }

  /** Removes replica `id` with a membership transaction over the remaining members; `id` may be down. */
  removeReplica(id: NodeId): Promise<MembershipChange> {
    return this.changeTo((view) =>
      view.members.includes(id) ? view.members.filter((m) => m !== id) : undefined,
    )
  }

  /** Resolves once every replica has applied committed transaction `txId`. */
  completion(txId: TxId): Promise<void> {
    return this.coordinator.completion(txId)
  }

  /**
   * Asks every known replica for its membership and adopts the newest. Members never skip a
   * change, and former members stop at the epoch that removed them, so the newest is the set's.
   */
  async refresh(): Promise<Membership> {
    const answers = await Promise.allSettled(
      this.replicas.ids().map((id) => this.replicas.client(id).status()),
    )
    for (const answer of answers) {
      if (answer.status === 'fulfilled' && answer.value.membership.epoch > this.view.epoch)
        this.view = answer.value.membership
    }
    return this.view
  }

  /** Closes the coordinator; pending writes reject with `CLOSED` (their outcome is then unknown to the caller). */
  close(): Promise<void> {
    this.closing.abort(new Error('the leader was closed'))
    return this.coordinator.close()
  }

  private write(options: WriteOptions, operation: (epoch: number) => PutOperation | DeleteOperation) {
    return this.lock.shared(async () => {
      const { epoch, members } = this.view
      if (members.length === 0) throw new Error('No replica set yet: call bootstrap() first')
      const payload = checked(operation(epoch))
      const outcome = await this.coordinator.commit({
        txId: options.txId ?? this.nextTxId('w'),
        participants: Object.fromEntries(members.map((id) => [id, payload])),
      })
      // A no vote may mean the set moved on (a change this leader did not see finish): look again.
      if (outcome.decision === 'abort' && outcome.reason === 'vote-no') await this.refresh()
      return outcome
    })
  }

  private changeTo(target: (view: Membership) => readonly NodeId[] | undefined): Promise<MembershipChange> {
    return this.lock.exclusive(async () => {
      await this.refresh()
      const members = target(this.view)
      if (members === undefined || members.length === 0)
        throw new MembershipChangeError(`no change to make to ${this.view.members.join(', ')}`)
      const change = await changeMembership(
        {
          coordinator: this.coordinator,
          replicas: this.replicas,
          quiesceTimeoutMs: this.quiesceTimeoutMs,
          applyTimeoutMs: this.applyTimeoutMs,
          txId: this.nextTxId('m'),
          signal: this.closing.signal,
        },
        this.view,
        members,
      )
      this.view = change.membership
      return change
    })
  }

  private nextTxId(kind: 'w' | 'm'): TxId {
    this.sequence += 1
    return `${kind}-${this.txIdPrefix}-${this.sequence}`
  }
}

const condition = (options: WriteOptions) =>
  options.expectedVersion === undefined ? {} : { expectedVersion: options.expectedVersion }

/** The replicas would vote no on a malformed write: refuse it here, where the caller can fix it. */
function checked<T extends Operation>(operation: T): T {
  const parsed = parseOperation(operation)
  if (typeof parsed === 'string') throw new TypeError(`Invalid write: ${parsed}`)
  return operation
}
