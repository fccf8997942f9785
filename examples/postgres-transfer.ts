/**
 * twopc with PostgreSQL: money moves between two databases — two banks — atomically, through
 * prepared transactions. Needs a server with max_prepared_transactions > 0 and the databases
 * twopc_bank_a and twopc_bank_b; `.ci/postgres.sh` starts one:
 *
 *   eval "$(bash .ci/postgres.sh)" && npx tsx examples/postgres-transfer.ts
 *
 * 1. alice (bank-a) pays bob (bank-b) 30: both databases commit.
 * 2. alice tries to pay 500: bank-a's CHECK (balance >= 0) fails at prepare, so bank-a votes no
 *    and bank-b's prepared transaction is rolled back.
 * 3. bob pays alice 20, and the coordinator — its own process, with a FileLog — is killed with
 *    SIGKILL after it decided commit, before either bank heard. Both banks sit in doubt with a
 *    prepared transaction; the restarted coordinator reads its log and finishes the commit.
 *
 * The banks run in this process, each a Participant with a PostgresResource and a FileLog; this
 * process also carries the messages between them and the coordinator (over IPC).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { escapeLiteral, Pool, type PoolClient } from 'pg'
import type { CommitOutcome, CommitRequest, Message, TransactionInfo, Transport } from '../src/index.js'
import { Participant } from '../src/index.js'
import { FileLog } from '../src/node.js'
import { PostgresResource } from '../src/postgres.js'

const serverUrl = process.env.TWOPC_PG_URL
if (serverUrl === undefined) {
  console.error('Set TWOPC_PG_URL to a PostgreSQL server, e.g. run: eval "$(bash .ci/postgres.sh)"')
  process.exit(1)
}
const databaseUrl = (database: string) => {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

const BANKS = {
  'bank-a': { database: 'twopc_bank_a', prefix: 'example-a', owner: 'alice', opening: 100 },
  'bank-b': { database: 'twopc_bank_b', prefix: 'example-b', owner: 'bob', opening: 50 },
} as const
type BankId = keyof typeof BANKS
const BANK_IDS = Object.keys(BANKS) as BankId[]
const dir = mkdtempSync(join(tmpdir(), 'twopc-postgres-example-'))
const admins = new Map(
  BANK_IDS.map((id) => [id, new Pool({ connectionString: databaseUrl(BANKS[id].database) })]),
)
const admin = (id: BankId) => admins.get(id) as Pool

/** Fresh accounts, after rolling back anything an earlier, interrupted run left prepared. */
async function openAccounts(id: BankId): Promise<void> {
  const { owner, opening } = BANKS[id]
  for (const gid of await preparedGids(id)) await admin(id).query(`ROLLBACK PREPARED ${escapeLiteral(gid)}`)
  await admin(id).query('DROP TABLE IF EXISTS example_accounts')
  await admin(id).query(
    'CREATE TABLE example_accounts (owner text PRIMARY KEY, balance integer NOT NULL CHECK (balance >= 0))',
  )
  await admin(id).query('INSERT INTO example_accounts VALUES ($1, $2)', [owner, opening])
}

/** This example's prepared transactions in a bank's database, as an operator would list them. */
async function preparedGids(id: BankId): Promise<string[]> {
  const { rows } = await admin(id).query<{ gid: string }>(
    'SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND starts_with(gid, $1)',
    [`${BANKS[id].prefix}:`],
  )
  return rows.map((row) => row.gid)
}

/** Committed balances, by bank: what any other session sees. */
async function readBalances(): Promise<number[]> {
  return Promise.all(
    BANK_IDS.map(async (id) => {
      const { rows } = await admin(id).query<{ balance: number }>('SELECT balance FROM example_accounts')
      return rows[0]?.balance ?? Number.NaN
    }),
  )
}

async function balances(): Promise<string> {
  const amounts = await readBalances()
  return BANK_IDS.map((id, i) => `${BANKS[id].owner} ${amounts[i]}`).join(', ')
}

async function leftovers(): Promise<string> {
  const gids = (await Promise.all(BANK_IDS.map(preparedGids))).flat()
  return gids.length === 0 ? 'none' : gids.join(', ')
}

// --- Message routing between this process (the banks) and the coordinator's process ---

let coordinator: ChildProcess | undefined
const inboxes = new Map<string, (message: unknown) => void>()
/** Set for act 3: the first commit of this transaction kills the coordinator instead of going out. */
let killOnCommitOf: string | undefined
let onKilled: (() => void) | undefined
let outcomeWaiter: ((outcome: CommitOutcome) => void) | undefined

function routeFromCoordinator(child: ChildProcess, message: Message): void {
  if (child !== coordinator) return // sent by a process that is being killed: lost with it
  if (message.type === 'commit' && message.txId === killOnCommitOf) {
    // Persist before send: the commit record is durable by now. Nobody hears the decision.
    coordinator = undefined
    killOnCommitOf = undefined
    child.kill('SIGKILL')
    console.log(
      '   coordinator: decided commit (the record is on disk), killed with SIGKILL before sending it',
    )
    onKilled?.()
    return
  }
  inboxes.get(message.to)?.(message)
}

async function startCoordinator(): Promise<void> {
  const child = fork(
    join(import.meta.dirname, 'postgres-transfer-coordinator.ts'),
    [join(dir, 'coordinator.log')],
    {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  )
  coordinator = child
  await new Promise<void>((resolve) => {
    child.on('message', (value: { kind: string; message?: Message; outcome?: CommitOutcome }) => {
      if (value.kind === 'started') resolve()
      else if (value.kind === 'message' && value.message !== undefined)
        routeFromCoordinator(child, value.message)
      else if (value.kind === 'outcome' && value.outcome !== undefined) outcomeWaiter?.(value.outcome)
    })
  })
}

function bankTransport(id: BankId): Transport {
  return {
    send: (message) => {
      if (coordinator?.connected) coordinator.send({ kind: 'message', message }, () => {})
    },
    onMessage: (handler) => {
      inboxes.set(id, handler)
    },
  }
}

// --- The banks ---

/** A transfer share: add `delta` to the balance of `owner`. The CHECK refuses an overdraft. */
async function transferWork(client: PoolClient, tx: TransactionInfo) {
  const { owner, delta } = tx.payload as { owner: string; delta: number }
  const updated = await client.query('UPDATE example_accounts SET balance = balance + $2 WHERE owner = $1', [
    owner,
    delta,
  ])
  return updated.rowCount === 1 ? 'yes' : 'no'
}

const banks = new Map<BankId, { participant: Participant; resource: PostgresResource }>()
for (const id of BANK_IDS) {
  await openAccounts(id)
  const log = new FileLog({ path: join(dir, `${id}.log`) })
  const resource = new PostgresResource({
    pool: { connectionString: databaseUrl(BANKS[id].database) },
    prefix: BANKS[id].prefix,
    work: transferWork,
  })
  // Reconcile before the participant starts: nothing to find in a fresh example.
  await resource.start(await log.load())
  const participant = new Participant({ id, transport: bankTransport(id), log, resource })
  participant.on('voted', ({ txId, vote }) => console.log(`   ${id}: voted ${vote} on ${txId}`))
  participant.on('resource-error', ({ operation, error }) =>
    console.log(`   ${id}: ${operation} failed: ${(error as Error).message}`),
  )
  participant.on('applied', ({ txId, decision }) => console.log(`   ${id}: applied ${decision} of ${txId}`))
  await participant.start()
  banks.set(id, { participant, resource })
}
await startCoordinator()

function transfer(txId: string, from: BankId, to: BankId, amount: number): CommitRequest {
  return {
    txId,
    participants: {
      [from]: { owner: BANKS[from].owner, delta: -amount },
      [to]: { owner: BANKS[to].owner, delta: amount },
    },
  }
}

/** Asks the coordinator process for a transfer and waits for its outcome. */
function run(request: CommitRequest): Promise<CommitOutcome> {
  return new Promise((resolve) => {
    outcomeWaiter = resolve
    coordinator?.send({ kind: 'transfer', request })
  })
}

/** Resolves when every bank has applied the outcome of `txId` to its database. */
function appliedEverywhere(txId: string): Promise<unknown> {
  return Promise.all(
    [...banks.values()].map(
      ({ participant }) =>
        new Promise<void>((resolve) => {
          const onApplied = (event: { txId: string }) => {
            if (event.txId !== txId) return
            participant.off('applied', onApplied)
            resolve()
          }
          participant.on('applied', onApplied)
        }),
    ),
  )
}

console.log(
  `\ntwopc + PostgreSQL: bank-a is database ${BANKS['bank-a'].database}, bank-b is ${BANKS['bank-b'].database}`,
)
console.log(`Start: ${await balances()}\n`)

console.log('1. alice pays bob 30')
let applied = appliedEverywhere('transfer-1')
const first = await run(transfer('transfer-1', 'bank-a', 'bank-b', 30))
await applied
console.log(`   → ${first.decision}: ${await balances()}; prepared transactions left: ${await leftovers()}\n`)

console.log('2. alice tries to pay bob 500 (she has 70)')
applied = appliedEverywhere('transfer-2')
const second = await run(transfer('transfer-2', 'bank-a', 'bank-b', 500))
await applied
const why = second.decision === 'abort' ? ` (${second.reason})` : ''
console.log(
  `   → ${second.decision}${why}: ${await balances()}; prepared transactions left: ${await leftovers()}\n`,
)

console.log('3. bob pays alice 20, and the coordinator dies between prepare and commit')
killOnCommitOf = 'transfer-3'
applied = appliedEverywhere('transfer-3')
const killed = new Promise<void>((resolve) => {
  onKilled = resolve
})
void run(transfer('transfer-3', 'bank-b', 'bank-a', 20)) // its answer dies with the coordinator
await killed
const inDoubt = [...banks].map(([id, { participant }]) => `${id} ${participant.inDoubt().map((e) => e.txId)}`)
console.log(`   in doubt: ${inDoubt.join(', ')}; pg_prepared_xacts holds: ${await leftovers()}`)
console.log(`   the prepared work is invisible until the outcome is known: ${await balances()}`)
console.log('   restarting the coordinator: its log has the commit, so it sends it again')
await startCoordinator()
await applied
console.log(`   → commit: ${await balances()}; prepared transactions left: ${await leftovers()}\n`)

const total = (await readBalances()).reduce((sum, amount) => sum + amount, 0)
const opening = BANKS['bank-a'].opening + BANKS['bank-b'].opening
console.log(`Money in both banks together: ${opening} at the start, ${total} now.`)

coordinator?.send({ kind: 'exit' })
for (const { participant, resource } of banks.values()) {
  await participant.close()
  await resource.close()
}
await Promise.all([...admins.values()].map((pool) => pool.end()))
rmSync(dir, { recursive: true, force: true })
