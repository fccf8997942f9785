import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { HttpTransport } from '../../src/adapters/http-transport.js'
import { MemoryLog } from '../../src/adapters/memory-log.js'
import { TcpTransport } from '../../src/adapters/tcp-transport.js'
import type { NetworkTransportStats } from '../../src/adapters/transport-events.js'
import { PreAuthenticationBudget } from '../../src/adapters/transport-preauth-budget.js'
import type { PreAuthenticationStats } from '../../src/adapters/transport-preauth-gate.js'
import { Coordinator, Participant } from '../../src/index.js'
import type { Transport } from '../../src/runtime/interfaces.js'

const SECRET = 'a-cluster-wide-secret'
const IDLE_CONNECTIONS = 2000
/** Idle connections come from 127.0.0.2 … 127.0.0.41: 50 each. */
const IDLE_ADDRESSES = 40
/** Byte-at-a-time connections come from 127.0.0.101 … 127.0.0.105. */
const SLOW_CONNECTIONS = 5
const TRANSACTIONS = 20

const cleanup: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

describe('PreAuthenticationBudget', () => {
  it('closes the oldest of an address over its bound, then the oldest of the address holding the most', () => {
    const budget = new PreAuthenticationBudget<string>(4, 2)
    expect(budget.admit('a1', 'A')).toEqual([])
    expect(budget.admit('a2', 'A')).toEqual([])
    expect(budget.admit('a3', 'A')).toEqual(['a1'])
    expect(budget.admit('b1', 'B')).toEqual([])
    expect(budget.admit('peer', 'P')).toEqual([])
    expect(budget.admit('b2', 'B')).toEqual(['a2']) // A and B hold 2 each: A is the first such address
    expect(budget.admit('c1', 'C')).toEqual(['b1'])
    expect(budget.size).toBe(4)
    budget.release('peer') // it authenticated
    budget.release('peer')
    expect(budget.size).toBe(3)
    expect(budget.admit('c2', 'C')).toEqual([])
    expect(budget.admit('d1', 'D')).toEqual(['c1'])
  })
})

/** A connection to `port` from `localAddress`; resolves once connected. */
function open(port: number, localAddress: string, sockets: Set<Socket>): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress })
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.off('error', reject)
      socket.on('error', () => {}) // the server resets it: 'close' follows
      socket.resume()
      resolve(socket)
    })
  })
}

/** Writes `bytes` one byte every 50 ms, never finishing within the deadline. */
function dribble(socket: Socket, bytes: Buffer): void {
  let sent = 0
  const timer = setInterval(() => {
    if (socket.destroyed || sent === bytes.length) clearInterval(timer)
    else socket.write(bytes.subarray(sent, ++sent))
  }, 50)
  socket.on('close', () => clearInterval(timer))
}

/** A listening node of one transport kind, as the scenario needs it. */
interface Endpoint {
  readonly transport: Transport & {
    stats(): NetworkTransportStats & PreAuthenticationStats
    setPeer(id: string, address: string): void
  }
  /** Where peers reach it. */
  readonly address: string
  readonly port: number
}

interface Kind {
  readonly name: string
  /** The start of a frame or request that a byte-at-a-time attacker never finishes. */
  readonly slowBytes: Buffer
  /** Starts node `id` on 127.0.0.1 with a secret, knowing `peers` (`host:port`). */
  start(id: string, peers: Record<string, string>, authenticationTimeoutMs?: number): Promise<Endpoint>
}

const tcp: Kind = {
  name: 'TcpTransport',
  slowBytes: Buffer.concat([Buffer.from([0, 0, 3, 232]), Buffer.from('{"from":"mallory"}\n'.repeat(60))]),
  async start(id, peers, authenticationTimeoutMs) {
    const transport = await TcpTransport.listen({
      id,
      listen: '127.0.0.1:0',
      peers,
      secret: SECRET,
      ...(authenticationTimeoutMs === undefined ? {} : { authenticationTimeoutMs }),
    })
    cleanup.push(() => transport.close())
    return { transport, address: transport.address, port: Number(transport.address.split(':')[1]) }
  },
}

const http: Kind = {
  name: 'HttpTransport',
  slowBytes: Buffer.from(`POST / HTTP/1.1\r\nHost: bank\r\nX-Padding: ${'a'.repeat(1000)}`),
  async start(id, peers, authenticationTimeoutMs) {
    const transport = new HttpTransport({
      id,
      peers: Object.fromEntries(Object.entries(peers).map(([peer, address]) => [peer, `http://${address}/`])),
      secret: SECRET,
      ...(authenticationTimeoutMs === undefined ? {} : { authenticationTimeoutMs }),
    })
    cleanup.push(() => transport.close())
    const url = new URL(await transport.listen('127.0.0.1:0'))
    return { transport, address: url.host, port: Number(url.port) }
  },
}

describe.each([tcp, http])('$name before authentication', (kind) => {
  it(`a coordinator that connects after ${IDLE_CONNECTIONS} idle and ${SLOW_CONNECTIONS} byte-at-a-time connections still commits, and every one of them is closed`, async () => {
    const bankEnd = await kind.start('bank', { coord: '127.0.0.1:1' }, 1000) // coord is moved below
    const bank = new Participant({
      id: 'bank',
      transport: bankEnd.transport,
      log: new MemoryLog(),
      resource: { prepare: () => 'yes', commit: () => {}, abort: () => {} },
    })
    await bank.start()
    cleanup.push(() => bank.close())

    // The flood first: 2,000 idle connections from 40 addresses, and 5 that dribble.
    const attackers = new Set<Socket>()
    cleanup.push(() => {
      for (const socket of attackers) socket.destroy()
    })
    for (let i = 0; i < IDLE_CONNECTIONS; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          open(bankEnd.port, `127.0.0.${2 + ((i + j) % IDLE_ADDRESSES)}`, attackers),
        ),
      )
    }
    for (let i = 0; i < SLOW_CONNECTIONS; i += 1) {
      dribble(await open(bankEnd.port, `127.0.0.${101 + i}`, attackers), kind.slowBytes)
    }
    expect(bankEnd.transport.stats().unauthenticatedConnections).toBeLessThanOrEqual(64) // the budget

    // Then the coordinator connects, from 127.0.0.1, and commits while the slow ones still dribble.
    const coordEnd = await kind.start('coord', { bank: bankEnd.address })
    bankEnd.transport.setPeer('coord', kind === tcp ? coordEnd.address : `http://${coordEnd.address}/`)
    const coordinator = new Coordinator({ id: 'coord', transport: coordEnd.transport, log: new MemoryLog() })
    await coordinator.start()
    cleanup.push(() => coordinator.close())
    const outcomes = []
    for (let i = 0; i < TRANSACTIONS; i += 1) {
      outcomes.push(await coordinator.commit({ participants: { bank: { i } } }))
    }
    expect(outcomes.map((outcome) => outcome.decision)).toEqual(Array(TRANSACTIONS).fill('commit'))

    // Every attacking connection ends, by the budget or the deadline; the coordinator's stay.
    await vi.waitFor(() => expect(attackers.size).toBe(0), { timeout: 10_000 })
    const after = bankEnd.transport.stats()
    const closed = after.unauthenticatedClosed
    expect(closed['over-limit']).toBe(0)
    expect(closed['timed-out'] + closed['over-budget']).toBe(IDLE_CONNECTIONS + SLOW_CONNECTIONS)
    // The dribbling ones, each alone on its address, are never the ones the budget closes.
    expect(closed['timed-out']).toBeGreaterThanOrEqual(SLOW_CONNECTIONS)
    expect(after.unauthenticatedConnections).toBe(0)
    expect(Object.values(after.rejected).reduce((sum, count) => sum + count, 0)).toBe(0)
  }, 60_000)
})
