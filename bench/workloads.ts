import type { Json, Resource, TransactionInfo, Vote } from '../src/index.js'

/**
 * What the participants vote, by transaction:
 * - `all-commit`: every participant votes yes;
 * - `no-votes-10`: one transaction in ten (every tenth) gets a `no` from its last participant;
 * - `read-only-50`: every second participant (`p1`, `p3`, …) votes read-only in every transaction.
 */
export type Mix = 'all-commit' | 'no-votes-10' | 'read-only-50'

/** Every {@link Mix}, in report order. */
export const MIXES: readonly Mix[] = ['all-commit', 'no-votes-10', 'read-only-50']

/** The coordinator's node id in every benchmark cluster. */
export const COORDINATOR_ID = 'coord'

/** The participants' node ids of an `n`-participant cluster: `p0` … `p(n-1)`. */
export function participantIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `p${i}`)
}

/** The vote of participant number `participant` (of `n`) in transaction number `index`. */
export function voteOf(mix: Mix, index: number, participant: number, n: number): Vote {
  if (mix === 'no-votes-10') return index % 10 === 9 && participant === n - 1 ? 'no' : 'yes'
  if (mix === 'read-only-50') return participant % 2 === 1 ? 'read-only' : 'yes'
  return 'yes'
}

/**
 * The payload for each participant of transaction `index`: a small transfer that carries the vote
 * the participant's {@link votingResource} will cast, so that every node of the cluster (in any
 * process) agrees on the workload without sharing state.
 */
export function payloads(mix: Mix, index: number, n: number): Record<string, Json> {
  const shares: Record<string, Json> = {}
  for (let participant = 0; participant < n; participant++) {
    shares[`p${participant}`] = { amount: 100, vote: voteOf(mix, index, participant, n) }
  }
  return shares
}

/** The vote a payload built by {@link payloads} carries. */
export function voteIn(payload: Json): Vote {
  return (payload as { readonly vote: Vote }).vote
}

/** A resource that votes what the payload says and applies outcomes instantly: the benchmark measures twopc, not a database. */
export function votingResource(): Resource {
  return {
    prepare: (tx: TransactionInfo) => voteIn(tx.payload),
    commit: () => {},
    abort: () => {},
  }
}
