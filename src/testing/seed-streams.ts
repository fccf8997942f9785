import { invalidOption } from '../core/options.js'
import { seededRandom } from '../runtime/seeded-random.js'

/**
 * `seed` as a simulation seed: any safe integer.
 * @throws TwopcError `INVALID_OPTIONS` for anything else (`NaN`, a fraction, `undefined`: a sweep
 * loop with such a bug would otherwise replay one history over and over)
 */
export function checkSeed(seed: unknown): number {
  if (!Number.isSafeInteger(seed)) invalidOption('seed', 'a safe integer', seed)
  return seed as number
}

/**
 * One of the independent random streams of a history: from its seed, a salt per simulator and the
 * stream's index. The generator has 32 bits of state, so the bits of the seed above 32 are mixed
 * into them: 2³²·k + n no longer replays seed n (it did when they were dropped), though two seeds
 * far apart may still, rarely, share a history. A seed with |seed| < 2³² keeps the streams it
 * always had.
 */
export function seedStream(seed: number, salt: number, index: number): () => number {
  const high = Math.imul(Math.trunc(seed / 2 ** 32), 0x85ebca6b)
  return seededRandom((Math.imul(seed ^ high ^ salt, 0x9e3779b1) + index * 0x632be5ab) | 0)
}
