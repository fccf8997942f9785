import { afterEach, describe, expect, it, vi } from 'vitest'
import { resolveAuth } from '../../src/adapters/hmac-auth.js'
import { HttpTransport } from '../../src/adapters/http-transport.js'
import type { InboundRejection, OutboundDrop } from '../../src/adapters/transport-events.js'
import type { Message } from '../../src/core/messages.js'

const KEY_AB = 'key-shared-by-a-and-b'
const T0 = 1_700_000_000_000

const transports: HttpTransport[] = []
afterEach(async () => {
  await Promise.all(transports.splice(0).map((transport) => transport.close()))
})

function commit(txId: string, from = 'a', to = 'b'): Message {
  return { v: 2, type: 'commit', txId, from, to }
}

/** Node b, which shares KEY_AB with a and nothing with anyone else, on a clock the test moves. */
async function receiver() {
  const clock = { now: () => T0 }
  const b = new HttpTransport({ id: 'b', secrets: { a: KEY_AB }, clock })
  transports.push(b)
  const url = await b.listen('127.0.0.1:0')
  const received: Message[] = []
  b.onMessage((message) => received.push(message as Message))
  const rejected: InboundRejection[] = []
  b.on('rejected', (rejection) => rejected.push(rejection))
  return { b, url, clock, received, rejected }
}

/** Body and headers of a request as node `from` would sign it for `to` with `key` at time `at`. */
function signed(messages: unknown, { from = 'a', to = 'b', key = KEY_AB, at = T0 } = {}) {
  const auth = resolveAuth({ secrets: { [to]: key }, clock: { now: () => at } }, from)
  const body = JSON.stringify(messages)
  const { timestamp, signature } = auth?.sign(to, Buffer.from(body)) ?? { timestamp: 0, signature: '' }
  return {
    body,
    headers: { 'x-twopc-from': from, 'x-twopc-timestamp': String(timestamp), 'x-twopc-signature': signature },
  }
}

async function post(url: string, request: { body: string; headers: Record<string, string> }) {
  const response = await fetch(url, { method: 'POST', ...request })
  return { status: response.status, body: await response.text() }
}

describe('HttpTransport authentication', () => {
  it('accepts a request signed with the key the two nodes share', async () => {
    const { url, received } = await receiver()
    expect((await post(url, signed([commit('tx-1')]))).status).toBe(204)
    expect(received.map((m) => m.txId)).toEqual(['tx-1'])
  })

  const good = signed([commit('tx-1')])
  it.each([
    [
      'forged with another key',
      signed([commit('tx-1')], { key: 'some-other-key-entirely' }),
      401,
      'bad-signature',
    ],
    [
      'tampered with after signing',
      { ...good, body: good.body.replace('tx-1', 'tx-9') },
      401,
      'bad-signature',
    ],
    ['unsigned', { body: good.body, headers: { 'x-twopc-from': 'a' } }, 401, 'missing-signature'],
    [
      'with a timestamp that is not a number',
      { ...good, headers: { ...good.headers, 'x-twopc-timestamp': '1e3' } },
      401,
      'bad-signature',
    ],
    ['signed for another recipient', signed([commit('tx-1')], { to: 'c' }), 401, 'bad-signature'],
    ['from a node with no key here', signed([commit('tx-1', 'c')], { from: 'c' }), 401, 'unknown-peer'],
    ['replayed 31 s late', signed([commit('tx-1')], { at: T0 - 31_000 }), 401, 'stale-timestamp'],
    ['stamped 31 s in the future', signed([commit('tx-1')], { at: T0 + 31_000 }), 401, 'stale-timestamp'],
    [
      'mis-attributed: signed by a, one `from` c',
      signed([commit('tx-1'), commit('tx-2', 'c')]),
      403,
      'misattributed',
    ],
  ])('answers a request %s with %i and delivers nothing', async (_, request, status, reason) => {
    const { b, url, received, rejected } = await receiver()
    const response = await post(url, request)
    expect(response.status).toBe(status)
    expect(JSON.parse(response.body)).toMatchObject({ error: reason })
    expect(received).toEqual([])
    expect(rejected).toEqual([expect.objectContaining({ reason })])
    expect(b.stats().rejected[reason as InboundRejection['reason']]).toBe(1)
  })

  it('rejects a recorded request replayed after the clock moved past the window', async () => {
    const { url, clock, received } = await receiver()
    const recorded = signed([commit('tx-1')])
    expect((await post(url, recorded)).status).toBe(204)
    clock.now = () => T0 + 30_001
    expect(await post(url, recorded)).toEqual({ status: 401, body: '{"error":"stale-timestamp"}' })
    expect(received.map((m) => m.txId)).toEqual(['tx-1'])
  })

  it('delivers between transports that share a key; a sender with the wrong key sees its batch dropped', async () => {
    const { url, received } = await receiver()
    const a = new HttpTransport({
      id: 'a',
      peers: { b: url },
      secrets: { b: KEY_AB },
      clock: { now: () => T0 },
    })
    const mallory = new HttpTransport({ id: 'a', peers: { b: url }, secret: 'guessed-cluster-secret' })
    transports.push(a, mallory)
    const drops: OutboundDrop[] = []
    mallory.on('dropped', (drop) => drops.push(drop))
    a.send(commit('tx-genuine'))
    mallory.send(commit('tx-forged'))
    await vi.waitFor(() => expect(received.map((m) => m.txId)).toEqual(['tx-genuine']))
    await vi.waitFor(() =>
      expect(drops).toEqual([expect.objectContaining({ reason: 'rejected-by-peer', count: 1 })]),
    )
    expect(received.map((m) => m.txId)).toEqual(['tx-genuine'])
  })
})
