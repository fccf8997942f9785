import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { PostgresResource, PostgresResourceError } from '../../src/postgres.js'
import { BANK_A, databaseUrl, describeWithPostgres, PG_URL, PG_URL_NO_PREPARED } from './pg-env.js'

const work = async () => {}

/** A resource on `connectionString`, started with an empty log: the promise of its start. */
async function start(connectionString: string): Promise<unknown> {
  const resource = new PostgresResource({ pool: { connectionString }, prefix: 'misconfig', work })
  try {
    return await resource.start([])
  } finally {
    await resource.close()
  }
}

/** A loopback port nobody listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('PostgresResource options', () => {
  const valid = { pool: { connectionString: 'postgres://localhost/x' }, prefix: 'bank-a', work }

  it.each([
    ['options', undefined, /Expected `options` to be an object/],
    [
      'prefix',
      { ...valid, prefix: 'Bank A' },
      /Expected `prefix` to be 1 to 32 characters from \[a-z0-9_-\], got/,
    ],
    ['work', { ...valid, work: 'UPDATE accounts' }, /Expected `work` to be a function/],
    ['pool', { ...valid, pool: null }, /Expected `pool` to be a pg.Pool or a pool configuration/],
    [
      'statementTimeoutMs',
      { ...valid, statementTimeoutMs: 0 },
      /Expected `statementTimeoutMs` to be a positive integer of milliseconds, at most 2147483647, got 0/,
    ],
  ])('rejects a bad `%s` with INVALID_OPTIONS', (_, options, message) => {
    expect(() => new PostgresResource(options as never)).toThrow(message)
    expect(() => new PostgresResource(options as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS' }),
    )
  })
})

describe('PostgresResource.start on an unreachable server', () => {
  it('rejects with problem `unreachable` when nothing listens on the port', async () => {
    const port = await closedPort()
    const error = await start(`postgres://twopc:twopc@127.0.0.1:${port}/postgres`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PostgresResourceError)
    expect(error).toMatchObject({ problem: 'unreachable', code: 'RESOURCE_UNAVAILABLE' })
    expect((error as Error).message).toMatch(
      /Could not reach PostgreSQL: .*ECONNREFUSED.*Check the host and port/,
    )
  })
})

describeWithPostgres('PostgresResource.start with wrong credentials', () => {
  it('rejects with problem `authentication-failed`', async () => {
    const url = new URL(databaseUrl(BANK_A, PG_URL))
    url.password = 'not-the-password'
    await expect(start(url.toString())).rejects.toMatchObject({
      problem: 'authentication-failed',
      code: 'RESOURCE_MISCONFIGURED',
      message: expect.stringMatching(/PostgreSQL refused the login: .*password authentication failed/),
    })
  })
})

describeWithPostgres(
  'PostgresResource.start on a server with max_prepared_transactions = 0',
  () => {
    it('rejects with problem `prepared-transactions-disabled` and says how to enable them', async () => {
      const error = await start(databaseUrl('postgres', PG_URL_NO_PREPARED)).catch((e: unknown) => e)
      expect(error).toMatchObject({
        problem: 'prepared-transactions-disabled',
        code: 'RESOURCE_MISCONFIGURED',
      })
      expect((error as Error).message).toContain('ALTER SYSTEM SET max_prepared_transactions = 64')
      expect((error as Error).message).toContain('restart the server')
    })
  },
  PG_URL_NO_PREPARED,
  'TWOPC_PG_URL_NO_PREPARED',
)
