import { describe, it } from 'vitest'

/**
 * Where the Postgres tests find their servers. `.ci/postgres.sh` starts both and prints the
 * variables: `eval "$(bash .ci/postgres.sh)"`. Without TWOPC_PG_URL the tests that need a server
 * skip, saying so (and fail in CI).
 */
export const PG_URL = process.env.TWOPC_PG_URL
/** A server with `max_prepared_transactions = 0`, for the misconfiguration test. */
export const PG_URL_NO_PREPARED = process.env.TWOPC_PG_URL_NO_PREPARED

/** The two databases `.ci/postgres.sh` creates on the TWOPC_PG_URL server. */
export const BANK_A = 'twopc_bank_a'
export const BANK_B = 'twopc_bank_b'

const HOW_TO_ENABLE =
  'run `eval "$(bash .ci/postgres.sh)"` to start PostgreSQL and export TWOPC_PG_URL and TWOPC_PG_URL_NO_PREPARED'

/**
 * `describe` for tests that need the server in `url`. When it is unset they skip, saying how to
 * enable them — except in CI (`CI=true`), where a skip would pass silently: there they fail.
 */
export function describeWithPostgres(
  name: string,
  body: () => void,
  url: string | undefined = PG_URL,
  variable = 'TWOPC_PG_URL',
): void {
  if (url !== undefined) {
    describe(name, body)
    return
  }
  const why = `${variable} is not set; ${HOW_TO_ENABLE}`
  if (process.env.CI === 'true' || process.env.CI === '1') {
    describe(name, () => {
      it('runs in CI', () => {
        throw new Error(`The Postgres tests must run in CI, but ${why}`)
      })
    })
    return
  }
  console.warn(`Skipping "${name}": ${why}`)
  describe.skip(`${name} (skipped: ${why})`, body)
}

/** The connection string of `database` on the server at `base` (TWOPC_PG_URL by default). */
export function databaseUrl(database: string, base: string | undefined = PG_URL): string {
  if (base === undefined) throw new Error('TWOPC_PG_URL is not set')
  const url = new URL(base)
  url.pathname = `/${database}`
  return url.toString()
}
