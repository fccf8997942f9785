import type { Message } from '../core/messages.js'
import type { CoordinatorCoreEvent, ParticipantCoreEvent, ResourceRequest } from '../core/ready.js'
import type { LogRecord } from '../core/records.js'
import type { Decision, NodeId, TxId, Vote } from '../core/types.js'

/** The properties of DESIGN.md §3 the simulator and the model checker check. */
export type InvariantName = 'S1' | 'S2' | 'S3' | 'S4' | 'S5' | 'S6' | 'S7' | 'L1'

/** One-line descriptions of the invariants, for reports. */
export const INVARIANTS: Readonly<Record<InvariantName, string>> = {
  S1: 'agreement: no two nodes hold different decisions for one transaction',
  S2: 'persist before send: vote yes, commit and ack leave only after their record is durable',
  S3: 'validity: commit only if every participant voted yes or read-only',
  S4: 'stability: a durable decision never changes',
  S5: 'no unilateral abort after a yes vote',
  S6: 'resource consistency: never both commit and abort for one transaction on one participant',
  S7: 'prepare once: no resource prepare after a vote, no other vote after a vote, no resource call after the end record, in any life',
  L1: 'termination: once faults stop, everything is decided, nothing is in flight, every log can be compacted',
}

/** A broken invariant: which one, and what broke it, in words. */
export interface Violation {
  readonly invariant: InvariantName
  readonly message: string
}

/** Thrown inside the simulator when an invariant breaks; carries the {@link Violation}. */
export class InvariantViolation extends Error {
  /** Wraps the violation found; thrown by the tracker at the step that broke an invariant. */
  constructor(readonly violation: Violation) {
    super(`${violation.invariant} violated: ${violation.message}`)
    this.name = 'InvariantViolation'
  }
}

/** The key of a record in a node's "ever durable" set: `prepared t1`, `outcome:commit t1`, `commit t1`. */
export function recordKey(record: LogRecord): string {
  switch (record.type) {
    case 'outcome':
      return `outcome:${record.decision} ${record.txId}`
    default:
      return `${record.type} ${record.txId}`
  }
}

interface TxGhost {
  readonly participants: readonly NodeId[]
  /** Decisions each node has held (S1), with what first showed each one, for the report. */
  readonly claims: Map<NodeId, Map<Decision, string>>
  /** Votes each participant has sent, refusals left out (S3, S5, S7). */
  readonly votes: Map<NodeId, Set<Vote>>
  /** Participants whose `end` record for the transaction was durable (S7). */
  readonly ended: Set<NodeId>
  /**
   * Participants an operator resolved by hand (`resolveManually`): a heuristic outcome may
   * contradict the decision — that is what the operator risked, and the protocol reports it — so
   * their holdings are not checked against the others' (S1, S5, S6); S2 and S7 still apply.
   */
  readonly byHand: Set<NodeId>
  /** The first decision each node made durable (S4). */
  readonly durable: Map<NodeId, Decision>
  /** Resource calls each participant started (S6). */
  readonly resource: Map<NodeId, Set<Decision>>
}

/**
 * Ghost state and checks for S1–S7. The simulated cluster calls it at each observable effect —
 * a record made durable, a message put on the wire, an event emitted, a resource call started —
 * and it throws an {@link InvariantViolation} at the first effect that breaks a property, so a
 * failure names the exact step.
 *
 * A node "holds" a decision once it shows it to the world or to its disk: a `decided` or
 * `applied` event, a durable `commit`/`outcome` record, a `commit`/`abort` message it sends (an
 * `ack` counts as commit), a resource `commit`/`abort` call. Holdings are kept across crashes,
 * so S1 also catches a node that changes its mind after a restart. (The coordinator's `abort`
 * messages are not counted, only its `decided` event: see `messageSent`.)
 */
export class InvariantTracker {
  private transactions = new Map<TxId, TxGhost>()
  /** Every record key that was ever durable on each node, across crashes and compaction (S2). */
  private everDurable = new Map<NodeId, Set<string>>()

  /**
   * Tracks one cluster run.
   * @param coordinator - the coordinator's node id
   */
  constructor(private readonly coordinator: NodeId) {}

  /** A transaction begins with these participants. */
  begin(txId: TxId, participants: readonly NodeId[]): void {
    this.transactions.set(txId, {
      participants: [...participants],
      claims: new Map(),
      votes: new Map(),
      ended: new Set(),
      byHand: new Set(),
      durable: new Map(),
      resource: new Map(),
    })
  }

  /** An operator resolved `txId` on `node` by hand: its holdings are no longer held against anyone's. */
  resolvedByHand(node: NodeId, txId: TxId): void {
    this.transactions.get(txId)?.byHand.add(node)
  }

  /** The transactions begun so far. */
  get txIds(): TxId[] {
    return [...this.transactions.keys()]
  }

  /** The participants of `txId` (empty if unknown). */
  participantsOf(txId: TxId): readonly NodeId[] {
    return this.transactions.get(txId)?.participants ?? []
  }

  /** The decisions `node` has held for `txId`. */
  held(node: NodeId, txId: TxId): Decision[] {
    return [...(this.transactions.get(txId)?.claims.get(node)?.keys() ?? [])]
  }

  /** Every decision anyone has held for `txId`. */
  decisions(txId: TxId): Decision[] {
    const all = new Set<Decision>()
    for (const held of this.transactions.get(txId)?.claims.values() ?? []) {
      for (const decision of held.keys()) all.add(decision)
    }
    return [...all]
  }

  /** Whether the record with `key` (see {@link recordKey}) was ever durable on `node`. */
  wasDurable(node: NodeId, key: string): boolean {
    return this.everDurable.get(node)?.has(key) ?? false
  }

  /** Records of `node` just became durable. Checks S4. */
  recordsDurable(node: NodeId, records: readonly LogRecord[]): void {
    let keys = this.everDurable.get(node)
    if (keys === undefined) {
      keys = new Set()
      this.everDurable.set(node, keys)
    }
    for (const record of records) {
      keys.add(recordKey(record))
      if (record.type === 'end' && node !== this.coordinator)
        this.transactions.get(record.txId)?.ended.add(node)
      const decision =
        record.type === 'commit'
          ? 'commit'
          : record.type === 'outcome' && record.heuristic === undefined
            ? record.decision
            : undefined
      if (decision === undefined) continue
      const tx = this.transactions.get(record.txId)
      if (tx === undefined) continue
      const first = tx.durable.get(node)
      if (first !== undefined && first !== decision) {
        this.fail(
          'S4',
          `${node} made ${decision} durable for ${record.txId} after ${first} was durable there`,
        )
      }
      if (first === undefined) tx.durable.set(node, decision)
      this.claim(node, record.txId, decision, `durable ${recordKey(record)} record`, false)
    }
  }

  /** `node` put `message` on the wire. Checks S2, and S1/S3 for the decision it carries. */
  messageSent(node: NodeId, message: Message): void {
    const tx = this.transactions.get(message.txId)
    if (tx === undefined) return
    const { txId } = message
    // A node outside the transaction answering a forged or misrouted message (an ack of a commit it
    // never had) holds nothing: the coordinator counts no vote or ack from outsiders.
    if ((message.type === 'ack' || message.type === 'vote') && !tx.participants.includes(node)) return
    const describe = `${message.type}${message.type === 'vote' ? `:${message.vote}` : ''} ${node}→${message.to}`
    switch (message.type) {
      case 'vote': {
        // A refusal is not a vote on the transaction: the participant did nothing.
        if (message.refused !== undefined) return
        let votes = tx.votes.get(node)
        if (votes === undefined) {
          votes = new Set()
          tx.votes.set(node, votes)
        }
        // Once a node holds abort, its answers to late prepares may tell that outcome (`no`) or,
        // after a crash lost the lazy abort record, its durable prepared state (`yes`) again:
        // harmless, the transaction is decided. Before that, a vote never changes.
        const changed =
          message.vote === 'yes'
            ? votes.has('no') || votes.has('read-only')
            : message.vote === 'no' && votes.has('yes')
        if (changed && !tx.claims.get(node)?.has('abort'))
          this.fail('S7', `${node} sent ${describe} for ${txId} after voting ${[...votes].join(', ')} on it`)
        votes.add(message.vote)
        if (message.vote === 'yes') {
          const needed = tx.participants.length === 1 ? `outcome:commit ${txId}` : `prepared ${txId}`
          this.requireDurable(node, needed, describe, txId)
        }
        return
      }
      case 'commit':
        // A one-phase coordinator's `commit` only confirms the participant's own (durable) outcome.
        if (node !== this.coordinator) this.requireDurable(node, `outcome:commit ${txId}`, describe, txId)
        else if (tx.participants.length > 1) this.requireDurable(node, `commit ${txId}`, describe, txId)
        return this.claim(node, txId, 'commit', `sent ${describe}`, true)
      case 'ack':
        // An ack that reports an outcome taken by hand (a heuristic mismatch), or any later ack of a
        // node resolved by hand, confirms nothing the coordinator relies on: it reports the mismatch.
        if (message.heuristic !== undefined || tx.byHand.has(node)) return
        this.requireDurable(node, `outcome:commit ${txId}`, describe, txId)
        return this.claim(node, txId, 'commit', `sent ${describe}`, true)
      case 'abort':
        // The coordinator's abort holding is its `decided` event; its `abort` messages are not
        // counted: a one-phase one may be a request, and one answering a decision-request about a
        // transaction it no longer knows is presumed abort — after all acks, a stale request on a
        // datagram network may get it, and its sender, which committed, ignores it. Whoever acts on
        // an abort holds it, and that is checked.
        if (node === this.coordinator) return
        return this.claim(node, txId, 'abort', `sent ${describe}`, true)
      default:
        return
    }
  }

  /** `node` emitted `event`. Checks S5, and S1/S3 for decisions. */
  event(node: NodeId, event: CoordinatorCoreEvent | ParticipantCoreEvent): void {
    if (event.type !== 'decided' && event.type !== 'applied') return
    const tx = this.transactions.get(event.txId)
    if (tx === undefined) return
    if (
      event.type === 'decided' &&
      'from' in event &&
      event.from === node &&
      event.decision === 'abort' &&
      tx.participants.length > 1 &&
      !tx.byHand.has(node) &&
      tx.votes.get(node)?.has('yes') &&
      // Telling again an abort that was decided (one it applied and forgot) is not deciding alone.
      !this.decisions(event.txId).includes('abort')
    ) {
      this.fail('S5', `${node} aborted ${event.txId} on its own after voting yes`)
    }
    const source = event.type === 'decided' && 'from' in event ? `decided (from ${event.from})` : event.type
    this.claim(node, event.txId, event.decision, `${source} event`, true)
  }

  /** `node` started a resource call. Checks S6, and S1/S3 for the decision it applies. */
  resourceCall(node: NodeId, request: ResourceRequest): void {
    const tx = this.transactions.get(request.tx.txId)
    if (tx === undefined) return
    if (tx.ended.has(node)) {
      this.fail(
        'S7',
        `${node} called resource.${request.type} for ${request.tx.txId} after its end record was durable`,
      )
    }
    if (request.type === 'prepare') {
      const votes = tx.votes.get(node)
      if (votes !== undefined && votes.size > 0) {
        this.fail(
          'S7',
          `${node} called resource.prepare for ${request.tx.txId} again after voting ${[...votes].join(', ')} on it`,
        )
      }
      return
    }
    let calls = tx.resource.get(node)
    if (calls === undefined) {
      calls = new Set()
      tx.resource.set(node, calls)
    }
    calls.add(request.type)
    if (calls.size > 1 && !tx.byHand.has(node)) {
      this.fail('S6', `${node} called both resource.commit and resource.abort for ${request.tx.txId}`)
    }
    this.claim(node, request.tx.txId, request.type, `resource.${request.type} call`, true)
  }

  /**
   * The ghost state as a canonical string (for the model checker), with node ids renamed: only
   * what a future check reads. Per transaction, the decisions anyone held (S1 compares a new
   * holding with their union; S4 and S6 conflicts are S1 conflicts too, since durable decisions and
   * resource calls are holdings), which votes each participant sent (S3, S5, S7) and whose `end`
   * was durable (S7); per node, the records ever durable (S2).
   */
  canonical(rename: (id: NodeId) => NodeId): string {
    const parts: string[] = []
    for (const [txId, tx] of this.transactions) {
      const held = new Set<Decision>()
      for (const decisions of tx.claims.values()) for (const decision of decisions.keys()) held.add(decision)
      const voted = [...tx.votes].map(([id, votes]) => `${rename(id)}=${[...votes].sort().join('+')}`).sort()
      const ended = [...tx.ended].map(rename).sort()
      const byHand = [...tx.byHand].map(rename).sort()
      parts.push(
        `${txId}:${[...held].sort().join('|')};${voted.join(',')};${ended.join(',')};${byHand.join(',')}`,
      )
    }
    const durable = [...this.everDurable].map(([id, keys]) => `${rename(id)}=${[...keys].sort().join('|')}`)
    parts.push(durable.sort().join(','))
    return parts.join('/')
  }

  /** An independent copy. */
  clone(): InvariantTracker {
    const copy = new InvariantTracker(this.coordinator)
    for (const [txId, tx] of this.transactions) {
      copy.transactions.set(txId, {
        participants: tx.participants,
        claims: new Map([...tx.claims].map(([id, held]) => [id, new Map(held)])),
        votes: new Map([...tx.votes].map(([id, votes]) => [id, new Set(votes)])),
        ended: new Set(tx.ended),
        byHand: new Set(tx.byHand),
        durable: new Map(tx.durable),
        resource: new Map([...tx.resource].map(([id, calls]) => [id, new Set(calls)])),
      })
    }
    copy.everDurable = new Map([...this.everDurable].map(([id, keys]) => [id, new Set(keys)]))
    return copy
  }

  private requireDurable(node: NodeId, key: string, what: string, txId: TxId): void {
    if (!this.wasDurable(node, key)) {
      this.fail(
        'S2',
        `${node} sent ${what} for ${txId} before its \`${key.split(' ')[0]}\` record was durable`,
      )
    }
  }

  /**
   * `node` holds `decision` for `txId`. Checks S1 and, when `validity` (an outward sign of
   * commit, not a record that is still private), S3.
   */
  private claim(node: NodeId, txId: TxId, decision: Decision, source: string, validity: boolean): void {
    const tx = this.transactions.get(txId)
    if (tx === undefined) return
    let held = tx.claims.get(node)
    if (held === undefined) {
      held = new Map()
      tx.claims.set(node, held)
    }
    if (!held.has(decision)) held.set(decision, source)
    if (tx.byHand.has(node)) return
    for (const [other, decisions] of tx.claims) {
      if (tx.byHand.has(other)) continue
      for (const [otherDecision, otherSource] of decisions) {
        if (otherDecision !== decision) {
          this.fail(
            'S1',
            `${txId} is ${decision} at ${node} (${source}) but ${otherDecision} at ${other} (${otherSource})`,
          )
        }
      }
    }
    if (decision === 'commit' && validity) {
      // A durable `prepared` record also shows the resource voted yes: a one-phase participant
      // that crashed before sending its vote still committed on its own, rightly.
      const missing = tx.participants.filter((id) => {
        const votes = tx.votes.get(id)
        return !(votes?.has('yes') || votes?.has('read-only') || this.wasDurable(id, `prepared ${txId}`))
      })
      if (missing.length > 0) {
        this.fail('S3', `${txId} committed at ${node} (${source}) but ${missing.join(', ')} never voted yes`)
      }
    }
  }

  private fail(invariant: InvariantName, message: string): never {
    throw new InvariantViolation({ invariant, message })
  }
}
