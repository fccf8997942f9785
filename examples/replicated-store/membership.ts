/**
 * Changing the replica set, as a two-phase commit over the membership record, so that every member
 * agrees on who is in the set and from which epoch on:
 *
 * - **add**: the new replica first copies a snapshot (data, versions, membership) from a member,
 *   then one transaction over the old members and the new one moves everyone to the next epoch;
 * - **remove**: one transaction over the remaining members (the removed one may be down).
 *
 * Each member votes yes only if its data matches the snapshot's digest and nothing is staged, and
 * every write carries the epoch it was prepared for, so no write straddles a change. The leader
 * runs these with its writes paused (see `Leader`).
 */
import type { CommitOutcome, Coordinator, NodeId, TxId } from '../../src/index.js'
import type { MembershipOperation } from './operations.js'
import type { ReplicaDirectory, ReplicaStatus } from './replica-api.js'
import type { Membership } from './store.js'

/** What a membership change did. */
export interface MembershipChange {
  /** The transaction's outcome. */
  readonly outcome: CommitOutcome
  /** The set after the change: the new one if it committed, the old one otherwise. */
  readonly membership: Membership
  /** For an add: which member the new replicas copied, and how many keys it held. */
  readonly snapshot?: { readonly source: NodeId; readonly keys: number }
}

/** A membership change could not be attempted (a replica unreachable or busy, a stale view, diverged data). */
export class MembershipChangeError extends Error {
  override readonly name = 'MembershipChangeError'
}

/** What {@link changeMembership} needs from the leader. */
export interface MembershipContext {
  readonly coordinator: Coordinator
  readonly replicas: ReplicaDirectory
  /** How long to wait for every member to finish its staged writes. */
  readonly quiesceTimeoutMs: number
  /** How long to wait, after the commit, for every member to apply it. */
  readonly applyTimeoutMs: number
  readonly txId: TxId
  /** Aborted when the leader closes: a closed leader takes no further step. */
  readonly signal: AbortSignal
}

/**
 * Moves the set from `current` to `members` in one transaction over `members`. Members kept from
 * the old set must be at `current.epoch`; new ones first install a snapshot of a kept member (with
 * no kept member, only a first set can be formed, from replicas that never joined one).
 *
 * @throws MembershipChangeError when the change cannot be attempted, or the replica's error if a
 * snapshot cannot be taken or installed. The set is unchanged then (a joining replica may hold a
 * copy of the data, which is harmless: it is not a member, and a retry installs a fresh copy).
 */
export async function changeMembership(
  context: MembershipContext,
  current: Membership,
  members: readonly NodeId[],
): Promise<MembershipChange> {
  const { replicas, coordinator } = context
  const staying = members.filter((id) => current.members.includes(id))
  const joining = members.filter((id) => !current.members.includes(id))
  if (staying.length === 0 && current.epoch !== 0)
    throw new MembershipChangeError('the new set must keep at least one member of the old one')
  const statuses = await quiesce(context, members)
  for (const status of statuses.values()) {
    const epoch = status.membership.epoch
    if (staying.includes(status.id) ? epoch !== current.epoch : epoch > current.epoch)
      throw new MembershipChangeError(
        `${status.id} is at epoch ${epoch}: the leader's view (${current.epoch}) is stale`,
      )
  }
  let digest: string
  let snapshot: MembershipChange['snapshot']
  const source = staying[0]
  if (source === undefined) {
    digest = statuses.get(members[0] as NodeId)?.digest ?? ''
  } else {
    const copy = await replicas.client(source).snapshot()
    for (const id of joining) {
      context.signal.throwIfAborted()
      await replicas.client(id).install(copy)
    }
    digest = copy.digest
    snapshot = { source, keys: copy.data.filter(([, entry]) => entry.value !== undefined).length }
  }
  // Every member would vote no anyway; checking first gives a clear message.
  const differing = staying.filter((id) => statuses.get(id)?.digest !== digest)
  if (source === undefined) differing.push(...joining.filter((id) => statuses.get(id)?.digest !== digest))
  if (differing.length > 0)
    throw new MembershipChangeError(`the data of ${differing.join(', ')} differs from the set's: refusing`)

  const operation: MembershipOperation = { type: 'membership', epoch: current.epoch + 1, members, digest }
  context.signal.throwIfAborted()
  const outcome = await coordinator.commit({
    txId: context.txId,
    participants: Object.fromEntries(members.map((id) => [id, operation])),
  })
  if (outcome.decision !== 'commit') return { outcome, membership: current, ...(snapshot && { snapshot }) }
  // Until a member applies the change, it refuses writes for the new epoch: wait (bounded) for all.
  await within(coordinator.completion(outcome.txId), context.applyTimeoutMs)
  return { outcome, membership: { epoch: operation.epoch, members }, ...(snapshot && { snapshot }) }
}

/** Waits until none of `ids` has staged writes (they all finish: the coordinator is up); returns their statuses. */
async function quiesce(
  context: MembershipContext,
  ids: readonly NodeId[],
): Promise<Map<NodeId, ReplicaStatus>> {
  const deadline = Date.now() + context.quiesceTimeoutMs
  for (;;) {
    context.signal.throwIfAborted()
    const statuses = new Map<NodeId, ReplicaStatus>()
    for (const id of ids) {
      const status = await context.replicas
        .client(id)
        .status()
        .catch((error: unknown) => {
          throw new MembershipChangeError(`${id} is unreachable (${(error as Error).message})`)
        })
      statuses.set(id, status)
    }
    const busy = [...statuses.values()].filter((status) => status.staged > 0)
    if (busy.length === 0) return statuses
    if (Date.now() > deadline)
      throw new MembershipChangeError(`${busy.map((s) => s.id).join(', ')} still have staged writes`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Resolves when `promise` settles or after `ms`, whichever comes first. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([promise.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
  clearTimeout(timer)
}
