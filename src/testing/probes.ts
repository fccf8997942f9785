/**
 * Rare paths a simulation must actually reach to be worth anything. The simulated cluster counts
 * each one as it happens; a test asserts that every probe fires within a fixed set of seeds, so a
 * simulator that drifts into only exercising the happy path is noticed.
 */
export type ProbeName =
  /** An in-doubt participant decided on receiving an answer to its `decision-request`. */
  | 'in-doubt-learned-by-decision-request'
  /** A restarted coordinator sent `commit` again for a transaction with no `end` record. */
  | 'coordinator-resent-commit-after-restart'
  /** A restarted node found a torn last record and the loader truncated it. */
  | 'torn-tail-truncated'
  /** A participant answered a peer's `decision-request` (cooperative termination). */
  | 'peer-answered-cooperative-termination'
  /** A participant that had not voted aborted on its own when a peer asked it (cooperative termination). */
  | 'unilateral-abort-when-asked'
  /** A participant restarted with a prepared transaction and no outcome: in doubt from its log. */
  | 'in-doubt-after-restart'
  /** A node crashed with records appended but not yet durable. */
  | 'crash-before-sync'
  /** A node crashed after sending some, but not all, of the messages of one `Ready`. */
  | 'crash-between-sends'
  /** A resource `commit`/`abort` failed and was retried. */
  | 'resource-call-retried'
  /** The coordinator aborted because a vote did not arrive in time. */
  | 'prepare-timeout'
  /** A duplicate `prepare` reached a participant whose `prepared` record was still being written. */
  | 'duplicate-prepare-while-persisting'
  /** A participant refused a request bound to an earlier life of it (a stale copy after a restart). */
  | 'stale-request-refused'

/** Every probe, with what it means. */
export const PROBES: Readonly<Record<ProbeName, string>> = {
  'in-doubt-learned-by-decision-request': 'an in-doubt participant learns the outcome by decision-request',
  'coordinator-resent-commit-after-restart': 'a coordinator resends commit after a restart',
  'torn-tail-truncated': 'a torn tail is truncated',
  'peer-answered-cooperative-termination': 'a peer answers a cooperative-termination request',
  'unilateral-abort-when-asked': 'a participant that has not voted aborts when a peer asks',
  'in-doubt-after-restart': 'a participant restarts in doubt',
  'crash-before-sync': 'a crash between append and sync',
  'crash-between-sends': 'a crash between two sends of one Ready',
  'resource-call-retried': 'a failed resource commit/abort is retried',
  'prepare-timeout': 'the coordinator times out waiting for votes',
  'stale-request-refused': 'a participant refuses a request bound to an earlier life of it',
  'duplicate-prepare-while-persisting':
    'a duplicate prepare arrives while the prepared record is being written',
}

/** Every probe name. */
export const PROBE_NAMES = Object.keys(PROBES) as ProbeName[]
