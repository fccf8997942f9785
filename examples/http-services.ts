/**
 * twopc between real services over HTTP: a coordinator and three participants (two banks and an
 * audit ledger), each its own OS process with its own FileLog, on loopback ports, authenticated
 * with a key per pair of services. Run: `npx tsx examples/http-services.ts`.
 *
 * It streams transfers, kills bank-b with SIGKILL in the middle, restarts it on the same port and
 * log, and shows every transaction resolving: transfers in flight while bank-b was down abort (its
 * vote never came: `prepare-timeout`) or commit (it had voted yes: it recovers the commit from its
 * log and the coordinator's retransmissions). Transfers whose prepare was meant for bank-b's first
 * life, which the restarted bank-b never saw, abort `refused`: its new life does not act on them
 * (it cannot tell whether the old one did). Once the coordinator has heard from the new life, it
 * binds new transfers to it and they commit again. At the end every service's ledger agrees with
 * the coordinator. Exits 0 when they all agree, 1 otherwise; removes its temporary directory either way.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ServiceConfig } from './http-services-node.js'

const SCRIPT = fileURLToPath(new URL('./http-services-node.ts', import.meta.url))
const SERVICES = ['coord', 'bank-a', 'bank-b', 'audit'] as const
const PARTICIPANTS = SERVICES.slice(1)
const TRANSFERS = 30
const KILL_AT = 10
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Reply {
  readonly type: string
  readonly [field: string]: unknown
}

/** A running service and the replies it sent that nobody has claimed yet. */
class Service {
  readonly replies: Reply[] = []
  readonly exited: Promise<unknown>
  private readonly waiting: { matches: (reply: Reply) => boolean; resolve: (reply: Reply) => void }[] = []

  constructor(readonly process: ChildProcess) {
    this.exited = new Promise((resolve) => process.once('exit', resolve))
    process.on('message', (reply: Reply) => {
      const index = this.waiting.findIndex((waiter) => waiter.matches(reply))
      if (index >= 0) this.waiting.splice(index, 1)[0]?.resolve(reply)
      else this.replies.push(reply)
    })
  }

  /** The next reply of this type (and transaction, if given), unclaimed ones first. */
  next(type: string, txId?: string): Promise<Reply> {
    const matches = (reply: Reply) => reply.type === type && (txId === undefined || reply.txId === txId)
    const index = this.replies.findIndex(matches)
    if (index >= 0) return Promise.resolve(this.replies.splice(index, 1)[0] as Reply)
    return new Promise((resolve) => this.waiting.push({ matches, resolve }))
  }

  /** Sends `message` if the process is still there to receive it. */
  send(message: object): void {
    if (this.process.connected) this.process.send(message)
  }
}

const dir = await mkdtemp(join(tmpdir(), 'twopc-http-services-'))
const urls: Record<string, string> = {}
const services = new Map<string, Service>()

/** Starts (or restarts, on its previous port and log) one service and waits until it serves. */
async function launch(id: string): Promise<Service> {
  const port = urls[id] === undefined ? 0 : Number(new URL(urls[id]).port)
  const config: ServiceConfig = {
    role: id === 'coord' ? 'coordinator' : 'participant',
    id,
    dir,
    port,
    services: SERVICES,
  }
  const child = fork(SCRIPT, [JSON.stringify(config)], { execArgv: ['--import', 'tsx'], env: process.env })
  const service = new Service(child)
  urls[id] = (await service.next('listening')).url as string
  services.set(id, service)
  console.log(`${id.padEnd(7)} pid ${child.pid} serving ${urls[id]}`)
  return service
}

/** Tells `started` every URL and waits until they run. */
async function join_(started: readonly Service[]): Promise<void> {
  for (const service of started) service.send({ type: 'peers', peers: urls })
  await Promise.all(started.map((service) => service.next('ready')))
}

let exitCode = 1
process.env.TWOPC_EXAMPLE_SECRET = randomBytes(32).toString('hex')
try {
  await join_(await Promise.all(SERVICES.map(launch)))
  const coordinator = services.get('coord') as Service
  const outcomes = new Map<string, string>()
  const pending: Promise<void>[] = []

  for (let i = 1; i <= TRANSFERS; i++) {
    if (i === KILL_AT) {
      const victim = services.get('bank-b') as Service
      victim.process.kill('SIGKILL')
      await victim.exited
      console.log(`bank-b  killed with SIGKILL mid-stream (transfers ${KILL_AT}.. go on without it)`)
    }
    if (i === KILL_AT + 5) {
      await join_([await launch('bank-b')])
      console.log('bank-b  restarted on the same port and log')
    }
    const txId = `tx-${String(i).padStart(2, '0')}`
    const [from, to] = i % 2 === 0 ? ['bank-a', 'bank-b'] : ['bank-b', 'bank-a']
    const amount = i % 7 === 0 ? 900 : 10 * i // over 500: the paying bank votes no
    coordinator.send({ type: 'transfer', txId, from, to, amount })
    pending.push(
      coordinator.next('outcome', txId).then((reply) => {
        outcomes.set(txId, reply.decision as string)
        const reason = reply.decision === 'abort' ? ` (${reply.reason})` : ''
        console.log(`  ${txId}  ${from} → ${to} ${String(amount).padStart(3)}: ${reply.decision}${reason}`)
      }),
    )
    await sleep(40)
  }
  await Promise.all(pending)

  // Wait until every service is idle with nothing in doubt: every acknowledgement is in.
  for (;;) {
    for (const service of services.values()) service.send({ type: 'status' })
    const statuses = await Promise.all([...services.values()].map((service) => service.next('status')))
    if (statuses.every((status) => status.inFlight === 0 && status.inDoubt === 0)) break
    await sleep(100)
  }

  // Every ledger must hold the coordinator's decision for every transaction it took part in.
  let disagreements = 0
  for (const id of PARTICIPANTS) {
    const lines = (await readFile(join(dir, `${id}.ledger`), 'utf8').catch(() => '')).trim().split('\n')
    for (const [decision, txId] of lines.filter(Boolean).map((line) => line.split(' '))) {
      if (outcomes.get(txId as string) !== decision) {
        disagreements += 1
        console.log(
          `DISAGREEMENT: ${id} applied ${decision} to ${txId}, coordinator says ${outcomes.get(txId as string)}`,
        )
      }
    }
  }
  const committed = [...outcomes.values()].filter((decision) => decision === 'commit').length
  console.log(
    `all ${outcomes.size} transfers resolved: ${committed} committed, ${outcomes.size - committed} aborted; ` +
      (disagreements === 0 ? 'every ledger agrees with the coordinator' : `${disagreements} disagreements`),
  )
  exitCode = outcomes.size === TRANSFERS && disagreements === 0 ? 0 : 1
} finally {
  for (const service of services.values()) service.send({ type: 'stop' })
  const stopped = Promise.all([...services.values()].map((service) => service.exited))
  const deadline = setTimeout(() => {
    for (const service of services.values()) service.process.kill('SIGKILL')
  }, 5000)
  await stopped
  clearTimeout(deadline)
  await rm(dir, { recursive: true, force: true })
}
process.exitCode = exitCode
