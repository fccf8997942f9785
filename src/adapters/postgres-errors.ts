import { type ErrorCode, TwopcError } from '../core/errors.js'

/**
 * What went wrong, in more detail than the {@link TwopcError} code:
 * - `prepared-transactions-disabled`: the server has `max_prepared_transactions = 0`;
 * - `authentication-failed`: the server refused the role or password;
 * - `unreachable`: no server answered at the configured address;
 * - `server-error`: the server answered `start()` with another error (see `cause`);
 * - `outcome-conflict`: asked to commit a transaction that was rolled back here, or to roll back
 *   one that was committed — a broken protocol invariant (S6) that needs a person.
 */
export type PostgresProblem =
  | 'prepared-transactions-disabled'
  | 'authentication-failed'
  | 'unreachable'
  | 'server-error'
  | 'outcome-conflict'

// Until ErrorCode has resource-specific codes, the closest existing ones: the setup problems are
// fixed in the configuration (of the server or of the options), a conflict is a request that
// contradicts what happened.
const CODES: Readonly<Record<PostgresProblem, ErrorCode>> = {
  'prepared-transactions-disabled': 'RESOURCE_MISCONFIGURED',
  'authentication-failed': 'RESOURCE_MISCONFIGURED',
  unreachable: 'RESOURCE_UNAVAILABLE',
  'server-error': 'RESOURCE_UNAVAILABLE',
  'outcome-conflict': 'RESOURCE_CONFLICT',
}

/**
 * Raised by {@link PostgresResource}: by `start()` when the server cannot be used, and by
 * `commit`/`abort` on an {@link PostgresProblem | outcome conflict}. Match on `problem`.
 */
export class PostgresResourceError extends TwopcError {
  /** What went wrong; stable, like `code`. */
  readonly problem: PostgresProblem

  /**
   * Creates the error; raised by `PostgresResource` only.
   * @param problem - what went wrong
   * @param message - what happened and how to fix it
   * @param options - `cause`: the error from `pg`, if any
   */
  constructor(problem: PostgresProblem, message: string, options?: { cause?: unknown }) {
    super(CODES[problem], message, options)
    this.name = 'PostgresResourceError'
    this.problem = problem
  }
}

/** Node's error codes for an address where nothing answers. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EAI_AGAIN',
])

/** Turns whatever connecting or checking the server threw into a {@link PostgresResourceError}. */
export function startFailure(error: unknown): PostgresResourceError {
  if (error instanceof PostgresResourceError) return error
  const { code, message } = error as { code?: unknown; message?: unknown }
  const text = typeof message === 'string' ? message : String(error)
  // SQLSTATE class 28: invalid_authorization_specification (28000), invalid_password (28P01).
  if (typeof code === 'string' && code.startsWith('28')) {
    return new PostgresResourceError(
      'authentication-failed',
      `PostgreSQL refused the login: ${text}. Check the user and password of the pool`,
      { cause: error },
    )
  }
  // pg reports its own `connectionTimeoutMillis` with a plain message and no code.
  if ((typeof code === 'string' && UNREACHABLE.has(code)) || (code === undefined && /timeout/i.test(text))) {
    return new PostgresResourceError(
      'unreachable',
      `Could not reach PostgreSQL: ${text}. Check the host and port of the pool, and that the server runs`,
      { cause: error },
    )
  }
  const state = typeof code === 'string' ? ` (SQLSTATE ${code})` : ''
  return new PostgresResourceError('server-error', `PostgreSQL failed at start: ${text}${state}`, {
    cause: error,
  })
}
