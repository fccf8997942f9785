/**
 * Every error twopc throws or rejects with is a {@link TwopcError} with a stable `code`.
 * Match on `code`, not on the message text: messages may be reworded, codes never change.
 *
 * @example
 * ```ts
 * try { await coordinator.commit(request) }
 * catch (error) { if (error instanceof TwopcError && error.code === 'TOO_MANY_TRANSACTIONS') retryLater() }
 * ```
 */
export type ErrorCode =
  | 'INVALID_MESSAGE'
  | 'INVALID_OPTIONS'
  | 'INVALID_REQUEST'
  | 'INVALID_RECORD'
  | 'DUPLICATE_TRANSACTION'
  | 'TOO_MANY_TRANSACTIONS'
  | 'NODE_HALTED'
  | 'NOT_STARTED'
  | 'CLOSED'
  | 'LOG_CORRUPTED'
  | 'LOG_LOCKED'
  | 'LOG_IO'
  /** A log's incarnation records name another node or role than the node opening it (a wrong log path). */
  | 'LOG_OWNER_MISMATCH'
  | 'UNKNOWN_TRANSACTION'
  /** A network transport could not listen on its address (in use, not permitted, an unknown host). */
  | 'LISTEN_FAILED'
  /** A resource's backing system is set up so that it cannot work (e.g. prepared transactions disabled). */
  | 'RESOURCE_MISCONFIGURED'
  /** A resource's backing system cannot be reached or failed. */
  | 'RESOURCE_UNAVAILABLE'
  /** A resource found an outcome that contradicts the one requested (a protocol violation). */
  | 'RESOURCE_CONFLICT'

/** Base class of every error twopc raises. `code` is stable; `message` says what was wrong and what was expected. */
export class TwopcError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode

  /**
   * Creates an error; thrown or rejected by twopc itself, and by adapters for their own failures.
   * @param code - the stable code
   * @param message - what was wrong and what was expected
   * @param options - `cause`, when another error led to this one
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TwopcError'
    this.code = code
  }
}

/**
 * Marks a branch the type system proves unreachable: the `default` of an exhaustive `switch`.
 * Reaching it at run time is a bug in twopc, so it throws.
 */
export function unreachable(value: never): never {
  throw new Error(`twopc internal error: unexpected value ${JSON.stringify(value)}`)
}
