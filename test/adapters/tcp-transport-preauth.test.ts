import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryLog } from '../../src/adapters/memory-log.js'
import { PreAuthenticationBudget } from '../../src/adapters/tcp-preauth-budget.js'
import { TcpTransport, type TcpTransportOptions } from '../../src/adapters/tcp-transport.js'
import { Coordinator, Participant } from '../../src/index.js'

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

/** Writes a frame header announcing 1000 bytes, then one byte every 50 ms, never finishing. */
function dribble(socket: Socket): void {
  const bytes = Buffer.concat([Buffer.from([0, 0, 3, 232]), Buffer.from('{"from":"mallory"}\n'.repeat(60))])
  let sent = 0
  const timer = setInterval(() => {
    if (socket.destroyed || sent === bytes.length) clearInterval(timer)
    else socket.write(bytes.subarray(sent, ++sent))
  }, 50)
  socket.on('close', () => clearInterval(timer))
}

async function listen(options: Omit<TcpTransportOptions, 'listen' | 'secret'>): Promise<TcpTransport> {
  const transport = await TcpTransport.listen({ listen: '127.0.0.1:0', secret: SECRET, ...options })
  cleanup.push(() => transport.close())
  return transport
}

describe('TcpTransport before authentication', () => {
  it(`a coordinator that connects after ${IDLE_CONNECTIONS} idle and ${SLOW_CONNECTIONS} byte-at-a-time connections still commits, and every one of them is closed`, async () => {
    const bankTransport = await listen({
      id: 'bank',
      peers: { coord: '127.0.0.1:1' }, // moved below, once the coordinator listens
      authenticationTimeoutMs: 1000,
    })
    const port = Number(bankTransport.address.split(':')[1])
    const bank = new Participant({
      id: 'bank',
      transport: bankTransport,
      log: new MemoryLog(),
      resource: { prepare: () => 'yes', commit: () => {}, abort: () => {} },
    })
    await bank.start()
    cleanup.push(() => bank.close())

    // The flood first: 2,000 idle connections from 40 addresses, and 5 that dribble a frame.
    const attackers = new Set<Socket>()
    cleanup.push(() => {
      for (const socket of attackers) socket.destroy()
    })
    for (let i = 0; i < IDLE_CONNECTIONS; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          open(port, `127.0.0.${2 + ((i + j) % IDLE_ADDRESSES)}`, attackers),
        ),
      )
    }
    for (let i = 0; i < SLOW_CONNECTIONS; i += 1) dribble(await open(port, `127.0.0.${101 + i}`, attackers))
    const flood = bankTransport.stats()
    expect(flood.unauthenticatedConnections).toBeLessThanOrEqual(64) // maxUnauthenticatedConnections
    expect(flood.inboundConnections).toBe(flood.unauthenticatedConnections)

    // Then the coordinator connects, from 127.0.0.1, and commits while the slow ones still dribble.
    const coordTransport = await listen({ id: 'coord', peers: { bank: bankTransport.address } })
    bankTransport.setPeer('coord', coordTransport.address)
    const coordinator = new Coordinator({ id: 'coord', transport: coordTransport, log: new MemoryLog() })
    await coordinator.start()
    cleanup.push(() => coordinator.close())
    const outcomes = []
    for (let i = 0; i < TRANSACTIONS; i += 1) {
      outcomes.push(await coordinator.commit({ participants: { bank: { i } } }))
    }
    expect(outcomes.map((outcome) => outcome.decision)).toEqual(Array(TRANSACTIONS).fill('commit'))

    // Every attacking connection ends, by the budget or the deadline; the coordinator's stays.
    await vi.waitFor(() => expect(attackers.size).toBe(0), { timeout: 10_000 })
    const after = bankTransport.stats()
    const closed = after.unauthenticatedClosed
    expect(closed['over-limit']).toBe(0)
    expect(closed['timed-out'] + closed['over-budget']).toBe(IDLE_CONNECTIONS + SLOW_CONNECTIONS)
    // The dribbling ones, each alone on its address, are never the ones the budget closes.
    expect(closed['timed-out']).toBeGreaterThanOrEqual(SLOW_CONNECTIONS)
    expect(after.unauthenticatedConnections).toBe(0)
    expect(after.inboundConnections).toBe(1) // the coordinator's
    expect(Object.values(after.rejected).reduce((sum, count) => sum + count, 0)).toBe(0)
  }, 60_000)
})
