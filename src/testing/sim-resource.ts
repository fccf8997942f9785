import type { ResourceRequest } from '../core/ready.js'
import type { Vote } from '../core/types.js'

/**
 * How a simulated resource answers `prepare`:
 * - `yes`, `no`, `read-only`: always that vote;
 * - `throws`: `prepare` throws, which the runtime reports as `no`;
 * - `hangs`: `prepare` never answers; the coordinator's prepare timeout aborts the transaction, and
 *   the participant's runtime gives up after its own `prepareTimeoutMs` and reports `no`
 *   (see `Participant`), which is how the participant gets its transaction out of `preparing`;
 * - `random`: draws one of the above (mostly `yes`) for each transaction, and answers the same
 *   if asked again about it (after its participant restarted);
 * - `fickle`: draws again at every call, so a transaction voted `no` may be voted `yes` after a
 *   restart (a resource whose conditions changed). Not part of the default fault mixes: it
 *   triggers a known core finding (see test/testing/findings.test.ts).
 */
export type PrepareBehaviour = 'yes' | 'no' | 'read-only' | 'throws' | 'hangs' | 'random' | 'fickle'

/** A participant's simulated resource. */
export interface ResourceBehaviour {
  /** How `prepare` answers. */
  readonly prepare: PrepareBehaviour
  /** How many times each `commit`/`abort` call fails before it succeeds (the runtime retries). */
  readonly applyFailures: number
}

/** A resource that votes yes and never fails. */
export const HAPPY_RESOURCE: ResourceBehaviour = { prepare: 'yes', applyFailures: 0 }

/** A resource call in progress on a simulated participant. */
export interface ResourceCall {
  /** Unique per cluster. */
  readonly id: number
  readonly request: ResourceRequest
  /** Failed attempts so far (commit/abort only). */
  failures: number
  /** When the call completes; the scheduler sets it. */
  dueAt: number
}

/** How a resource call ends in one step: a vote for `prepare`; `applied` or a failed attempt for `commit`/`abort`. */
export type ResourceResult =
  | { readonly type: 'vote'; readonly vote: Vote; readonly cause?: 'threw' | 'hung' }
  | { readonly type: 'applied' }
  | { readonly type: 'failed' }

/**
 * The result a resource with `behaviour` gives for `call`, drawing from `random` where the
 * behaviour is random. `previous` is the vote it gave the last time it was asked about this
 * transaction, if any (a `random` resource repeats it). Used by the simulator and the
 * fast-check commands; the model checker enumerates results instead.
 */
export function resourceResult(
  behaviour: ResourceBehaviour,
  call: ResourceCall,
  random: () => number,
  previous?: Vote,
): ResourceResult {
  if (call.request.type !== 'prepare') {
    return call.failures < behaviour.applyFailures ? { type: 'failed' } : { type: 'applied' }
  }
  let prepare = behaviour.prepare
  if (prepare === 'random' && previous !== undefined) return { type: 'vote', vote: previous }
  if (prepare === 'random' || prepare === 'fickle') {
    const draw = random()
    prepare = draw < 0.7 ? 'yes' : draw < 0.82 ? 'no' : draw < 0.92 ? 'read-only' : 'throws'
  }
  switch (prepare) {
    case 'yes':
    case 'no':
    case 'read-only':
      return { type: 'vote', vote: prepare }
    case 'throws':
      return { type: 'vote', vote: 'no', cause: 'threw' }
    case 'hangs':
      return { type: 'vote', vote: 'no', cause: 'hung' }
  }
}
