import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, expect, it } from 'vitest'
import type { ChildConfig, FromChild, ToChild } from './tcp-transport-child.js'

/**
 * Real processes over TCP on 127.0.0.1, each node with its own FileLog: a coordinator and three
 * participants run a stream of transactions while a participant, then the coordinator, is killed
 * with SIGKILL and restarted on the same port and log. Afterwards every node must be idle with
 * nothing in doubt, and every participant must have applied the same decision for each
 * transaction — the one the coordinator reported, when it reported one.
 */

const SCRIPT = fileURLToPath(new URL('./tcp-transport-child.ts', import.meta.url))
const PARTICIPANTS = ['p1', 'p2', 'p3'] as const

/** One node's process, spoken to over IPC. */
class Node {
  private readonly inbox: FromChild[] = []
  private readonly waiters: { type: FromChild['type']; resolve: (message: FromChild) => void }[] = []
  readonly exited: Promise<unknown>

  private constructor(
    readonly config: ChildConfig,
    readonly process: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => process.once('exit', resolve))
    process.on('message', (message: FromChild) => {
      const index = this.waiters.findIndex((waiter) => waiter.type === message.type)
      if (index >= 0) this.waiters.splice(index, 1)[0]?.resolve(message)
      else this.inbox.push(message)
    })
  }

  /** Forks the node and resolves with it and its address once it listens. */
  static async start(config: ChildConfig): Promise<{ node: Node; address: string }> {
    const child = fork(SCRIPT, [JSON.stringify(config)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const node = new Node(config, child)
    const listening = (await node.next('listening')) as Extract<FromChild, { type: 'listening' }>
    return { node, address: listening.address }
  }

  send(message: ToChild): void {
    this.process.send(message)
  }

  /** The next message of this type (earlier unclaimed ones first). */
  next(type: FromChild['type']): Promise<FromChild> {
    const index = this.inbox.findIndex((message) => message.type === type)
    if (index >= 0) return Promise.resolve(this.inbox.splice(index, 1)[0] as FromChild)
    return new Promise((resolve) => this.waiters.push({ type, resolve }))
  }

  /** Every `outcome` received so far. */
  takeOutcomes(): Extract<FromChild, { type: 'outcome' }>[] {
    const outcomes = this.inbox.filter((message) => message.type === 'outcome')
    this.inbox.splice(0, this.inbox.length, ...this.inbox.filter((message) => message.type !== 'outcome'))
    return outcomes as Extract<FromChild, { type: 'outcome' }>[]
  }

  async kill(): Promise<void> {
    this.process.kill('SIGKILL')
    await this.exited
  }
}

const running = new Set<Node>()
let directory: string | undefined

afterEach(async () => {
  await Promise.all([...running].map((node) => node.kill()))
  running.clear()
  if (directory !== undefined) await rm(directory, { recursive: true, force: true })
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

it('a cluster of processes agrees on every transaction after SIGKILL of a participant and of the coordinator', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'twopc-tcp-processes-'))
  directory = dir
  const secret = randomBytes(16).toString('hex')
  const peers: Record<string, string> = {}

  /** Starts (or restarts, on its previous port and log) one node and waits until it runs. */
  const launch = async (role: ChildConfig['role'], id: string): Promise<Node> => {
    const port = peers[id] === undefined ? 0 : Number(peers[id].split(':')[1])
    const { node, address } = await Node.start({ role, id, dir, secret, port })
    running.add(node)
    peers[id] = address
    return node
  }
  const join_ = async (nodes: Node[]) => {
    for (const node of nodes) node.send({ type: 'peers', peers })
    await Promise.all(nodes.map((node) => node.next('ready')))
  }

  let coordinator = await launch('coordinator', 'coord')
  const participants = new Map<string, Node>()
  for (const id of PARTICIPANTS) participants.set(id, await launch('participant', id))
  await join_([coordinator, ...participants.values()])

  const outcomes = new Map<string, string>()
  let issued = 0
  const issue = async (count: number, midway?: () => Promise<void>) => {
    for (let i = 0; i < count; i++) {
      if (i === Math.floor(count / 2)) await midway?.()
      const txId = `tx-${String(issued++).padStart(3, '0')}`
      coordinator.send({
        type: 'commit',
        txId,
        participants: Object.fromEntries(PARTICIPANTS.map((id) => [id, { txId, amount: issued }])),
      })
      await sleep(10)
    }
  }
  const collect = () => {
    for (const outcome of coordinator.takeOutcomes()) outcomes.set(outcome.txId, outcome.decision)
  }

  // A participant dies mid-stream and comes back on its port and log.
  await issue(30, async () => {
    const victim = participants.get('p2') as Node
    await victim.kill()
    running.delete(victim)
  })
  const p2 = await launch('participant', 'p2')
  participants.set('p2', p2)
  await join_([p2])
  await issue(10)
  await sleep(200)
  collect()

  // The coordinator dies mid-stream and comes back on its port and log.
  await issue(30, async () => {
    collect()
    await coordinator.kill()
    running.delete(coordinator)
    coordinator = await launch('coordinator', 'coord')
    await join_([coordinator])
  })
  await issue(10)

  // Every node idle, nothing in doubt.
  const all = () => [coordinator, ...participants.values()]
  const deadline = Date.now() + 20_000
  for (;;) {
    for (const node of all()) node.send({ type: 'status' })
    const statuses = (await Promise.all(all().map((node) => node.next('status')))) as Extract<
      FromChild,
      { type: 'status' }
    >[]
    if (statuses.every((status) => status.inFlight === 0 && status.inDoubt === 0)) break
    if (Date.now() > deadline) throw new Error(`no quiescence: ${JSON.stringify(statuses)}`)
    await sleep(100)
  }
  collect()
  for (const node of all()) node.send({ type: 'stop' })
  await Promise.all(all().map((node) => node.exited))
  running.clear()

  // Agreement: per transaction, one decision across every participant and the coordinator's report.
  const applied = new Map<string, Map<string, Set<string>>>() // txId → participant → decisions
  for (const id of PARTICIPANTS) {
    const lines = (await readFile(join(dir, `${id}.resource`), 'utf8')).trim().split('\n')
    for (const line of lines) {
      const [operation, txId] = line.split(' ') as [string, string]
      if (operation === 'prepare') continue
      const byParticipant = applied.get(txId) ?? new Map<string, Set<string>>()
      applied.set(txId, byParticipant)
      byParticipant.set(id, (byParticipant.get(id) ?? new Set()).add(operation))
    }
  }
  for (const [txId, byParticipant] of applied) {
    const decisions = new Set([...byParticipant.values()].flatMap((set) => [...set]))
    expect(
      decisions.size,
      `${txId}: ${JSON.stringify([...byParticipant].map(([id, d]) => [id, [...d]]))}`,
    ).toBe(1)
    const reported = outcomes.get(txId)
    if (reported !== undefined) expect([...decisions], txId).toEqual([reported])
  }
  const committed = [...outcomes].filter(([, decision]) => decision === 'commit').map(([txId]) => txId)
  for (const txId of committed) {
    expect([...(applied.get(txId)?.keys() ?? [])].sort(), `${txId} committed everywhere`).toEqual([
      ...PARTICIPANTS,
    ])
  }
  expect(committed.length).toBeGreaterThan(10)
  expect([...outcomes.values()].every((decision) => decision === 'commit' || decision === 'abort')).toBe(true)
}, 60_000)
