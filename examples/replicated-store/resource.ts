/**
 * The replica's share of every transaction: a key-value store that is a twopc `Resource`.
 * `prepare` validates a write and stages it durably (the vote is a promise to commit it);
 * `commit` applies it; `abort` drops it. Reads see committed data only.
 */
import type { NodeId, Resource, TransactionInfo, TxId, Vote } from '../../src/index.js'
import { type Operation, parseOperation } from './operations.js'
import type { ReadResult, ReplicaClient, ReplicaStatus, Snapshot } from './replica-api.js'
import {
  dataDigest,
  EMPTY_STATE,
  type Entry,
  type Membership,
  type StateStorage,
  type StoredState,
} from './store.js'

/** Options of {@link ReplicaStore.open}. */
export interface ReplicaStoreOptions {
  /** The replica's node id (the same as its participant's): it must be in the set to accept writes. */
  readonly id: NodeId
  /** Where the state lives; `FileStateStorage` in production. */
  readonly storage: StateStorage
}

/**
 * A replica's data: key → { value, version }, plus the membership record and the writes it has
 * voted yes on. Every change is saved before the call that made it resolves, so the store
 * survives SIGKILL; `commit` and `abort` are idempotent because twopc repeats them after a restart.
 *
 * Conflict rule (why replicas stay identical): a replica stages at most one write per key, and none
 * beside a membership change, so writes to one key commit one after another in the same order on
 * every replica, and each one gets the same next version everywhere.
 */
export class ReplicaStore implements Resource, ReplicaClient {
  private data = new Map<string, Entry>()
  private membership: Membership = EMPTY_STATE.membership
  private readonly staged = new Map<TxId, Operation>()
  /** The write in progress, or a resolved promise; saves run one at a time. */
  private saving: Promise<void> = Promise.resolve()
  /** A save that has not started yet: every change made before it starts is in it (group commit). */
  private queued: Promise<void> | undefined
  /** A failed save may have left the disk in either state: every later save fails too. */
  private failure: unknown

  private constructor(
    readonly id: NodeId,
    private readonly storage: StateStorage,
  ) {}

  /** Loads the saved state (or starts empty). */
  static async open(options: ReplicaStoreOptions): Promise<ReplicaStore> {
    const store = new ReplicaStore(options.id, options.storage)
    const state = (await options.storage.load()) ?? EMPTY_STATE
    store.data = new Map(state.data)
    store.membership = state.membership
    for (const [txId, operation] of state.staged) store.staged.set(txId, operation)
    return store
  }

  /** Called by the participant once per transaction (and again if it restarted before its vote was durable). */
  async prepare(tx: TransactionInfo): Promise<Vote> {
    if (!this.staged.has(tx.txId)) {
      const operation = parseOperation(tx.payload)
      if (typeof operation === 'string' || this.refusal(operation) !== undefined) return 'no'
      this.staged.set(tx.txId, operation)
    }
    await this.save()
    // An abort can arrive while the save runs (a peer asked us during cooperative termination and
    // we had not voted): it removed the staged write, and the vote must not promise it.
    return this.staged.has(tx.txId) ? 'yes' : 'no'
  }

  /** Applies a staged write. A repeat finds nothing staged: it was applied already (or replaced by a snapshot). */
  async commit(tx: TransactionInfo): Promise<void> {
    const operation = this.staged.get(tx.txId)
    if (operation !== undefined) {
      this.staged.delete(tx.txId)
      this.apply(tx.txId, operation)
    }
    await this.save() // a repeat still waits: the first call's save may be in flight
  }

  /** Drops a staged write, if there is one. */
  async abort(tx: TransactionInfo): Promise<void> {
    if (this.staged.delete(tx.txId)) await this.save()
  }

  /**
   * Drops staged writes the participant's log does not know (`prepared` lists every transaction
   * with a `prepared` record). Such a write was staged, then the process died before its
   * `prepared` record was durable: no yes vote left, so it can never commit, and no one will abort
   * it here. Called at start, before the participant runs.
   */
  async dropOrphans(prepared: ReadonlySet<TxId>): Promise<TxId[]> {
    const orphans = [...this.staged.keys()].filter((txId) => !prepared.has(txId))
    for (const txId of orphans) this.staged.delete(txId)
    if (orphans.length > 0) await this.save()
    return orphans
  }

  async get(key: string): Promise<ReadResult> {
    const entry = this.data.get(key)
    return { value: entry?.value, version: entry?.version ?? 0 }
  }

  async status(): Promise<ReplicaStatus> {
    const data = this.sortedData()
    return {
      id: this.id,
      membership: this.membership,
      staged: this.staged.size,
      digest: dataDigest(data),
      keys: data.filter(([, entry]) => entry.value !== undefined).length,
    }
  }

  async snapshot(): Promise<Snapshot> {
    if (this.staged.size > 0) throw new Error(`${this.id} has ${this.staged.size} staged writes; no snapshot`)
    const data = this.sortedData()
    return { data, membership: this.membership, digest: dataDigest(data) }
  }

  async install(snapshot: Snapshot): Promise<void> {
    if (this.staged.size > 0)
      throw new Error(`${this.id} has ${this.staged.size} staged writes; cannot install`)
    if (snapshot.membership.epoch < this.membership.epoch)
      throw new Error(`snapshot epoch ${snapshot.membership.epoch} is older than ${this.membership.epoch}`)
    if (dataDigest(snapshot.data) !== snapshot.digest)
      throw new Error('snapshot digest does not match its data')
    this.data = new Map(snapshot.data)
    this.membership = snapshot.membership
    await this.save()
  }

  /** A copy of everything this replica holds, for checks and tests. */
  state(): StoredState {
    return { data: this.sortedData(), membership: this.membership, staged: [...this.staged] }
  }

  /** Why this replica must vote no on `operation`, or `undefined` if it can promise to commit it. */
  private refusal(operation: Operation): string | undefined {
    const { epoch, members } = this.membership
    if (operation.type === 'membership') {
      if (operation.epoch !== epoch + 1) return `membership epoch ${operation.epoch} does not follow ${epoch}`
      if (!operation.members.includes(this.id)) return 'not a member of the new set'
      // Nothing may be in flight across a membership change: every write is on one side of it.
      if (this.staged.size > 0) return 'writes are in progress'
      if (operation.digest !== dataDigest(this.sortedData())) return 'my data differs from the set'
      return undefined
    }
    // Epoch fencing: a leader with a stale view of the set cannot commit anything.
    if (operation.epoch !== epoch) return `write for epoch ${operation.epoch}, the set is at ${epoch}`
    if (!members.includes(this.id)) return 'not a member of the set'
    for (const other of this.staged.values()) {
      if (other.type === 'membership') return 'a membership change is in progress'
      if (other.key === operation.key) return `another write to ${operation.key} is in progress`
    }
    const version = this.data.get(operation.key)?.version ?? 0
    if (operation.expectedVersion !== undefined && operation.expectedVersion !== version)
      return `${operation.key} is at version ${version}, not ${operation.expectedVersion}`
    return undefined
  }

  private apply(txId: TxId, operation: Operation): void {
    switch (operation.type) {
      case 'put':
      case 'delete': {
        const version = (this.data.get(operation.key)?.version ?? 0) + 1
        const entry = operation.type === 'put' ? { version, value: operation.value, txId } : { version, txId }
        this.data.set(operation.key, entry)
        return
      }
      case 'membership':
        this.membership = { epoch: operation.epoch, members: operation.members }
        return
      default:
        return unreachable(operation)
    }
  }

  private sortedData(): [string, Entry][] {
    return [...this.data].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  }

  /**
   * Resolves once a save that started after this call is durable. Saves run one at a time; changes
   * made while one runs share the next (group commit), which captures the state when it starts.
   */
  private save(): Promise<void> {
    if (this.queued !== undefined) return this.queued
    const next = this.saving.then(() => {
      this.queued = undefined
      if (this.failure !== undefined) throw this.failure
      return this.storage.save(this.state()).catch((error: unknown) => {
        this.failure = error
        throw error
      })
    })
    this.queued = next
    this.saving = next.catch(() => {})
    return next
  }
}

function unreachable(value: never): never {
  throw new Error(`unexpected ${JSON.stringify(value)}`)
}
