import { fc, test } from '@fast-check/vitest'
import { afterAll, beforeAll, describe, expect, vi } from 'vitest'
import { resolveAuth } from '../../src/adapters/hmac-auth.js'
import { HttpTransport } from '../../src/adapters/http-transport.js'
import { MemoryLog } from '../../src/adapters/memory-log.js'
import { Participant, type ParticipantEvents } from '../../src/runtime/participant.js'
import type { NodeStats } from '../../src/runtime/stats.js'
import { RecordingResource } from '../runtime/cluster.js'
import { messageShapedJunk } from '../support/junk-messages.js'

/**
 * Hostile requests at a participant's HTTP endpoint: random bodies, random JSON and message-shaped
 * junk, unsigned and (so that they reach the parser) correctly signed. Every answer must be a
 * clean 4xx, never a crash or a 5xx, and nothing may change in the participant behind it.
 */

const KEY = 'coord-bank-shared-key'
const EVENTS: (keyof ParticipantEvents)[] = [
  'voted',
  'in-doubt',
  'decided',
  'applied',
  'heuristic-mismatch',
  'message-dropped',
  'resource-error',
  'halted',
]

interface Target {
  transport: HttpTransport
  participant: Participant
  url: string
  readonly resource: RecordingResource
  readonly events: string[]
}

const open = { resource: new RecordingResource(), events: [] } as unknown as Target
const authenticated = { resource: new RecordingResource(), events: [] } as unknown as Target
const coordAuth = resolveAuth({ secrets: { bank: KEY } }, 'coord')

async function start(target: Target, secrets: { coord: string } | undefined): Promise<void> {
  target.transport = new HttpTransport({
    id: 'bank',
    ...(secrets === undefined ? { authentication: 'none' } : { secrets }),
  })
  target.url = await target.transport.listen('127.0.0.1:0')
  target.participant = new Participant({
    id: 'bank',
    transport: target.transport,
    log: new MemoryLog(),
    resource: target.resource,
  })
  for (const name of EVENTS) target.participant.on(name, () => target.events.push(name))
  await target.participant.start()
}

beforeAll(async () => {
  await start(open, undefined)
  await start(authenticated, { coord: KEY })
})

afterAll(async () => {
  await Promise.all([open.participant.close(), authenticated.participant.close()])
})

function snapshot(target: Target): { stats: NodeStats; events: number; calls: number } {
  return {
    stats: target.participant.stats(),
    events: target.events.length,
    calls: target.resource.calls.length,
  }
}

/** Posts `body` and checks that it was refused with a clean 4xx and that nothing changed behind it. */
async function expectRefusedWithoutEffect(
  target: Target,
  body: string | Uint8Array,
  headers: Record<string, string>,
) {
  const before = snapshot(target)
  const response = await fetch(target.url, { method: 'POST', body, headers })
  await response.arrayBuffer()
  expect([400, 401, 403, 413]).toContain(response.status)
  expect(snapshot(target)).toEqual(before)
  return response.status
}

function signedHeaders(body: string): Record<string, string> {
  const { timestamp, signature } = coordAuth?.sign('bank', Buffer.from(body)) ?? {
    timestamp: 0,
    signature: '',
  }
  return { 'x-twopc-from': 'coord', 'x-twopc-timestamp': String(timestamp), 'x-twopc-signature': signature }
}

/** Message-shaped junk aimed at the participant, never a valid message from coord to bank. */
const junkMessage = messageShapedJunk('coord', 'bank')
const hostileBody = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc.string({ maxLength: 2048 }),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.array(fc.oneof(junkMessage, fc.jsonValue()), { maxLength: 5 }).map((value) => JSON.stringify(value)),
)
const hostileHeaders = fc.record(
  {
    'x-twopc-from': fc.oneof(fc.constant('coord'), fc.string({ unit: 'binary-ascii', maxLength: 20 })),
    'x-twopc-timestamp': fc.oneof(fc.nat().map(String), fc.string({ unit: 'binary-ascii', maxLength: 20 })),
    'x-twopc-signature': fc.oneof(
      fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }),
      fc.string({ unit: 'binary-ascii' }),
    ),
  },
  { requiredKeys: [] },
)
/** Header values fetch accepts: printable ASCII without leading or trailing blanks. */
const sendable = (headers: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, value.replace(/[^\x21-\x7e]/g, '_')]),
  )

describe('HttpTransport under hostile input', () => {
  test.prop([hostileBody, hostileHeaders], { numRuns: 200 })(
    'random requests to an unauthenticated endpoint are refused cleanly, without effect',
    async (body, headers) => {
      await expectRefusedWithoutEffect(open, body, sendable(headers))
    },
  )

  test.prop([hostileBody, hostileHeaders], { numRuns: 200 })(
    'random requests with random signatures are refused as unauthenticated, without effect',
    async (body, headers) => {
      expect(await expectRefusedWithoutEffect(authenticated, body, sendable(headers))).toBe(401)
    },
  )

  test.prop([hostileBody.filter((body) => typeof body === 'string')], { numRuns: 200 })(
    'correctly signed junk reaches the parser and is refused without effect',
    async (body) => {
      await expectRefusedWithoutEffect(authenticated, body as string, signedHeaders(body as string))
    },
  )

  test('the nodes behind them are untouched and still work', async () => {
    for (const target of [open, authenticated]) {
      expect(target.participant.stats().messagesReceived).toBe(target.transport.stats().messagesReceived)
    }
    const prepare = JSON.stringify([
      {
        v: 2,
        type: 'prepare',
        txId: 'tx-ok',
        from: 'coord',
        to: 'bank',
        payload: 1,
        participants: ['bank'],
        onePhase: false,
        // Bound to the participant's first life (a fresh log), the first transaction of the coordinator's first epoch.
        inc: 1,
        epoch: 1,
        seq: 1,
      },
    ])
    const response = await fetch(authenticated.url, {
      method: 'POST',
      body: prepare,
      headers: signedHeaders(prepare),
    })
    expect(response.status).toBe(204)
    await vi.waitFor(() => expect(authenticated.resource.prepared).toContain('tx-ok'))
  })
})
