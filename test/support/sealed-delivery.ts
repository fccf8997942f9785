import { expect } from 'vitest'
import { type Message, type PrepareMessage, parseMessage } from '../../src/core/messages.js'

/** A valid two-level `prepare` from `a` to `b`, for checking what a transport delivers. */
export const SAMPLE_PREPARE: PrepareMessage = {
  v: 2,
  txId: 'tx-1',
  from: 'a',
  to: 'b',
  type: 'prepare',
  payload: { items: [{ price: 5 }] },
  participants: ['b'],
  onePhase: true,
  inc: 1,
  epoch: 1,
  seq: 1,
}

/**
 * Asserts that a transport delivered `sent` (starting with {@link SAMPLE_PREPARE}) validated once:
 * equal, sealed (the runtime's `parseMessage` returns each as is) and frozen down to the payload.
 */
export function expectSealedDelivery(received: readonly unknown[], sent: readonly Message[]): void {
  expect(received).toEqual(sent)
  for (const message of received) expect(parseMessage(message)).toBe(message)
  const delivered = received[0] as PrepareMessage
  expect(Object.isFrozen(delivered.participants)).toBe(true)
  expect(() => (delivered.payload as { items: unknown[] }).items.push({})).toThrow(TypeError)
}
