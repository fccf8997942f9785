import { connect } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { encodeFrames } from '../../src/adapters/frame-codec.js'
import { resolveAuth } from '../../src/adapters/hmac-auth.js'
import { TcpTransport } from '../../src/adapters/tcp-transport.js'
import type { InboundRejection } from '../../src/adapters/transport-events.js'
import type { Message } from '../../src/core/messages.js'

const KEY_AB = 'key-shared-by-a-and-b'
const T0 = 1_700_000_000_000

const open: TcpTransport[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((transport) => transport.close()))
})

function commit(txId: string, from = 'a', to = 'b'): Message {
  return { v: 2, type: 'commit', txId, from, to }
}

/** Node b, which shares KEY_AB with a and nothing with anyone else, on a clock the test moves. */
async function receiver() {
  const clock = { now: () => T0 }
  const b = await TcpTransport.listen({ id: 'b', listen: '127.0.0.1:0', secrets: { a: KEY_AB }, clock })
  open.push(b)
  const received: Message[] = []
  b.onMessage((message) => received.push(message as Message))
  const rejected: InboundRejection[] = []
  b.on('rejected', (rejection) => rejected.push(rejection))
  return { b, clock, received, rejected }
}

/** A frame as node `from` would sign it for `to` with `key` at time `at`. */
function signed(message: unknown, { from = 'a', to = 'b', key = KEY_AB, at = T0 } = {}): Buffer {
  const auth = resolveAuth({ secrets: { [to]: key }, clock: { now: () => at } }, from)
  const bytes = Buffer.from(JSON.stringify(message))
  const { timestamp, signature } = auth?.sign(to, bytes) ?? { timestamp: 0, signature: '' }
  return encodeFrames([{ envelope: JSON.stringify({ from, ts: timestamp, sig: signature }), message: bytes }])
}

/** Writes `bytes` on a fresh connection to `transport`; resolves whether the server closed it within 200 ms. */
async function writeRaw(transport: TcpTransport, bytes: Buffer): Promise<boolean> {
  const [host, port] = transport.address.split(':') as [string, string]
  const socket = connect({ host, port: Number(port) })
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(bytes)
  socket.resume()
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 200)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
  socket.destroy()
  return closed
}

describe('TcpTransport authentication', () => {
  it('accepts a frame signed with the key the two nodes share', async () => {
    const { b, received } = await receiver()
    expect(await writeRaw(b, signed(commit('tx-1')))).toBe(false)
    expect(received.map((m) => m.txId)).toEqual(['tx-1'])
  })

  it.each([
    ['forged with another key', signed(commit('tx-1'), { key: 'some-other-key-entirely' }), 'bad-signature'],
    [
      'tampered with after signing',
      Buffer.from(signed(commit('tx-1')).toString('latin1').replace('tx-1', 'tx-9'), 'latin1'),
      'bad-signature',
    ],
    [
      'unsigned',
      encodeFrames([{ envelope: '{"from":"a"}', message: Buffer.from(JSON.stringify(commit('tx-1'))) }]),
      'missing-signature',
    ],
    ['signed for another recipient', signed(commit('tx-1'), { to: 'c' }), 'bad-signature'],
    ['from a node with no key here', signed(commit('tx-1', 'c'), { from: 'c' }), 'unknown-peer'],
    ['replayed 31 s late', signed(commit('tx-1'), { at: T0 - 31_000 }), 'stale-timestamp'],
    ['stamped 31 s in the future', signed(commit('tx-1'), { at: T0 + 31_000 }), 'stale-timestamp'],
    ['mis-attributed: signed by a, `from` c', signed(commit('tx-1', 'c')), 'misattributed'],
  ])('rejects a frame %s, closes the connection and delivers nothing', async (_, bytes, reason) => {
    const { b, received, rejected } = await receiver()
    expect(await writeRaw(b, bytes)).toBe(true)
    expect(received).toEqual([])
    expect(rejected).toEqual([expect.objectContaining({ reason })])
    expect(b.stats().rejected[reason as InboundRejection['reason']]).toBe(1)
  })

  it('rejects a recorded frame replayed after the clock moved past the window', async () => {
    const { b, clock, received, rejected } = await receiver()
    const recorded = signed(commit('tx-1'))
    expect(await writeRaw(b, recorded)).toBe(false)
    clock.now = () => T0 + 30_001
    expect(await writeRaw(b, recorded)).toBe(true)
    expect(received.map((m) => m.txId)).toEqual(['tx-1'])
    expect(rejected.map((r) => r.reason)).toEqual(['stale-timestamp'])
  })

  it('delivers between transports that share a key, and not from one with the wrong key', async () => {
    const { b, received, rejected } = await receiver()
    const a = await TcpTransport.listen({
      id: 'a',
      listen: '127.0.0.1:0',
      secrets: { b: KEY_AB },
      clock: { now: () => T0 },
    })
    const mallory = await TcpTransport.listen({
      id: 'a', // claims to be a, without a's key
      listen: '127.0.0.1:0',
      secret: 'guessed-cluster-secret',
      clock: { now: () => T0 },
    })
    open.push(a, mallory)
    a.setPeer('b', b.address)
    mallory.setPeer('b', b.address)
    a.send(commit('tx-genuine'))
    mallory.send(commit('tx-forged'))
    await vi.waitFor(() => expect(received.map((m) => m.txId)).toEqual(['tx-genuine']))
    await vi.waitFor(() => expect(rejected.map((r) => r.reason)).toContain('bad-signature'))
    expect(received.map((m) => m.txId)).toEqual(['tx-genuine'])
  })
})
