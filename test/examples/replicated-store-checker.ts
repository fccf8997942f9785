/**
 * The oracle of the replicated-store test: after healing, do the replicas of the set hold exactly
 * the same data, and is that data what the clients' writes allow?
 *
 * The model is the list of writes the clients issued, each with the outcome the client learned:
 * `commit`, `abort`, or `unknown` (the leader crashed before answering: it may have gone either
 * way). Every write bumps its key's version by one and records its transaction id, so for each key:
 *
 * - the version is at least the number of committed writes (none missing) and at most committed +
 *   unknown (no aborted write applied);
 * - the entry was written by a committed or unknown write to that key, and holds that write's value;
 * - a committed conditional write that expected version v made version v + 1: if the key is at
 *   v + 1 it is that write's, and no two committed writes expected the same version (no lost update).
 */

import type { StoredState } from '../../examples/replicated-store/store.js'
import type { NodeId } from '../../src/index.js'

/** One write a client issued, and what the client learned of it. */
export interface WriteRecord {
  readonly txId: string
  readonly key: string
  readonly type: 'put' | 'delete'
  /** The value a put wrote (unique per write, so an entry names its writer twice over). */
  readonly value?: string
  readonly expectedVersion?: number
  outcome: 'commit' | 'abort' | 'unknown'
}

/**
 * Returns every violation found (empty: the replicas agree with each other and with the model).
 * `replicas` are the members of the final set, each with its state after healing.
 */
export function checkReplicas(
  writes: readonly WriteRecord[],
  replicas: ReadonlyMap<NodeId, StoredState>,
): string[] {
  const violations: string[] = []
  const states = [...replicas]
  const [reference] = states
  if (reference === undefined) return ['no replica to check']
  for (const [id, state] of states.slice(1)) violations.push(...divergence(reference, [id, state]))
  for (const [id, state] of states) {
    const members = [...state.membership.members].sort()
    if (JSON.stringify(members) !== JSON.stringify([...replicas.keys()].sort()))
      violations.push(`${id} lists the set as ${members.join(', ')}, not ${[...replicas.keys()].join(', ')}`)
    if (state.staged.length > 0) violations.push(`${id} still has ${state.staged.length} staged writes`)
    violations.push(...modelViolations(id, writes, state))
  }
  return violations
}

/** Where two replicas differ: their data, key by key, and their membership. */
function divergence(
  [aId, a]: readonly [NodeId, StoredState],
  [bId, b]: readonly [NodeId, StoredState],
): string[] {
  const found: string[] = []
  const aData = new Map(a.data)
  const bData = new Map(b.data)
  for (const key of new Set([...aData.keys(), ...bData.keys()])) {
    const left = JSON.stringify(aData.get(key) ?? null)
    const right = JSON.stringify(bData.get(key) ?? null)
    if (left !== right) found.push(`divergence: ${aId} and ${bId} differ on ${key}: ${left} vs ${right}`)
  }
  if (JSON.stringify(a.membership) !== JSON.stringify(b.membership))
    found.push(
      `divergence: ${aId} and ${bId} differ on the membership: ${JSON.stringify(a.membership)} vs ${JSON.stringify(b.membership)}`,
    )
  return found
}

function modelViolations(id: NodeId, writes: readonly WriteRecord[], state: StoredState): string[] {
  const found: string[] = []
  const byTxId = new Map(writes.map((write) => [write.txId, write]))
  const data = new Map(state.data)
  const keys = new Set([...writes.map((write) => write.key), ...data.keys()])
  for (const key of keys) {
    const entry = data.get(key)
    const version = entry?.version ?? 0
    const toKey = writes.filter((write) => write.key === key)
    const committed = toKey.filter((write) => write.outcome === 'commit')
    const unknown = toKey.filter((write) => write.outcome === 'unknown')
    if (version < committed.length)
      found.push(
        `${id}: ${key} is at version ${version} but ${committed.length} writes to it committed: one is missing`,
      )
    if (version > committed.length + unknown.length)
      found.push(
        `${id}: ${key} is at version ${version}, above the ${committed.length} committed + ${unknown.length} undecided writes: an aborted write was applied`,
      )
    if (entry !== undefined) {
      const writer = byTxId.get(entry.txId)
      if (writer === undefined || writer.key !== key)
        found.push(`${id}: ${key} was written by unknown ${entry.txId}`)
      else if (writer.outcome === 'abort') found.push(`${id}: ${key} holds aborted write ${entry.txId}`)
      else if ((writer.type === 'put' ? writer.value : undefined) !== entry.value)
        found.push(
          `${id}: ${key} holds ${JSON.stringify(entry.value)}, but ${entry.txId} wrote ${writer.value}`,
        )
    }
    const byExpected = new Map<number, WriteRecord>()
    for (const write of committed) {
      if (write.expectedVersion === undefined) continue
      const twin = byExpected.get(write.expectedVersion)
      if (twin !== undefined)
        found.push(
          `${key}: ${twin.txId} and ${write.txId} both committed over version ${write.expectedVersion}`,
        )
      byExpected.set(write.expectedVersion, write)
      if (version < write.expectedVersion + 1)
        found.push(
          `${id}: ${key} is at version ${version}, before committed ${write.txId} (which made ${write.expectedVersion + 1})`,
        )
      else if (version === write.expectedVersion + 1 && entry?.txId !== write.txId)
        found.push(
          `${id}: ${key} version ${version} should be committed ${write.txId}'s, is ${entry?.txId}'s`,
        )
    }
  }
  return found
}
