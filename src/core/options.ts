import { TwopcError } from './errors.js'
import { describe, isId } from './validate.js'

/** Options both cores share. Every field is validated by `validateCommonOptions`. */
export interface CommonCoreOptions {
  /** This node's id; messages addressed elsewhere are dropped. */
  readonly id: string
  /**
   * First retransmission interval: of `prepare` and `commit` by a coordinator, of
   * `decision-request` by an in-doubt participant. Doubles on each attempt up to `retransmitIntervalMsMax`.
   * Lower it on a fast, lossy network; raise it when many transactions are in flight over a slow
   * one, or retransmissions will add to the load.
   * @default 1000
   */
  readonly retransmitIntervalMs?: number
  /**
   * Cap on the retransmission interval.
   * @default 5000
   */
  readonly retransmitIntervalMsMax?: number
  /**
   * Most transactions in flight on this node at once. A coordinator rejects more with
   * `TOO_MANY_TRANSACTIONS` (or lets `commit()` calls wait: `maxQueuedTransactions`); a
   * participant votes `no` on further prepares.
   * @default 10000
   */
  readonly maxInFlightTransactions?: number
  /**
   * How many finished transactions a node remembers, to answer duplicates and late questions
   * exactly. Older ones fall back to the protocol's presumptions.
   * @default 100000
   */
  readonly rememberedTransactions?: number
  /**
   * Source of randomness in [0, 1) for backoff jitter. Required by the cores, which never read
   * `Math.random` themselves: pass `Math.random`, or a seeded one for deterministic runs. (The
   * `Coordinator` and `Participant` runtimes pass `Math.random` when their own `random` is unset.)
   */
  readonly random: () => number
}

/** Common options with defaults applied. */
export interface ResolvedCommonOptions {
  /** {@link CommonCoreOptions.id}. */
  readonly id: string
  /** {@link CommonCoreOptions.retransmitIntervalMs}. */
  readonly retransmitIntervalMs: number
  /** {@link CommonCoreOptions.retransmitIntervalMsMax}. */
  readonly retransmitIntervalMsMax: number
  /** {@link CommonCoreOptions.maxInFlightTransactions}. */
  readonly maxInFlightTransactions: number
  /** {@link CommonCoreOptions.rememberedTransactions}. */
  readonly rememberedTransactions: number
  /** {@link CommonCoreOptions.random}. */
  readonly random: () => number
}

/** Throws `INVALID_OPTIONS` naming the option, the value and what was expected. */
export function invalidOption(name: string, expected: string, value: unknown): never {
  throw new TwopcError('INVALID_OPTIONS', `Expected \`${name}\` to be ${expected}, got ${describe(value)}`)
}

/** Returns `value` (or `fallback` when undefined) after checking it is a positive integer. */
export function positiveInteger(name: string, value: unknown, fallback: number): number {
  const resolved = value === undefined ? fallback : value
  if (typeof resolved !== 'number' || !Number.isSafeInteger(resolved) || resolved <= 0) {
    invalidOption(name, 'a positive integer', resolved)
  }
  return resolved
}

/** The longest delay a timer takes (`setTimeout` fires at once, with a warning, past 2³¹ − 1 ms). */
export const MAX_DURATION_MS = 2 ** 31 - 1

/**
 * `value` (or `fallback` when undefined) as a duration in milliseconds: a positive integer up to
 * {@link MAX_DURATION_MS} (about 24.8 days).
 * @throws TwopcError `INVALID_OPTIONS` naming the option
 */
export function positiveDuration(name: string, value: unknown, fallback: number): number {
  const resolved = value === undefined ? fallback : value
  if (
    typeof resolved !== 'number' ||
    !Number.isSafeInteger(resolved) ||
    resolved <= 0 ||
    resolved > MAX_DURATION_MS
  ) {
    invalidOption(name, `a positive integer of milliseconds, at most ${MAX_DURATION_MS}`, resolved)
  }
  return resolved
}

/** Validates the options both cores share and applies defaults. */
export function validateCommonOptions(options: CommonCoreOptions): ResolvedCommonOptions {
  if (typeof options !== 'object' || options === null) invalidOption('options', 'an object', options)
  if (!isId(options.id)) invalidOption('id', 'a non-empty string of printable characters', options.id)
  if (typeof options.random !== 'function') invalidOption('random', 'a function', options.random)
  const retransmitIntervalMs = positiveDuration('retransmitIntervalMs', options.retransmitIntervalMs, 1000)
  const retransmitIntervalMsMax = positiveDuration(
    'retransmitIntervalMsMax',
    options.retransmitIntervalMsMax,
    Math.max(5000, retransmitIntervalMs),
  )
  if (retransmitIntervalMsMax < retransmitIntervalMs) {
    invalidOption(
      'retransmitIntervalMsMax',
      `at least \`retransmitIntervalMs\` (${retransmitIntervalMs})`,
      retransmitIntervalMsMax,
    )
  }
  return {
    id: options.id,
    retransmitIntervalMs,
    retransmitIntervalMsMax,
    maxInFlightTransactions: positiveInteger(
      'maxInFlightTransactions',
      options.maxInFlightTransactions,
      10_000,
    ),
    rememberedTransactions: positiveInteger(
      'rememberedTransactions',
      options.rememberedTransactions,
      100_000,
    ),
    random: options.random,
  }
}
