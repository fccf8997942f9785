/**
 * A seeded pseudo-random source in [0, 1) (mulberry32). Same seed, same sequence, on every
 * platform: the simulator, `MemoryNetwork` and tests use it so that a run can be replayed.
 *
 * @example
 * ```ts
 * const random = seededRandom(42)
 * new Coordinator({ ..., random })
 * ```
 */
export function seededRandom(seed: number): () => number {
  // The state lives in a typed array: a captured variable holding a 32-bit value above V8's small
  // integers would be boxed into a new heap number at every call.
  const state = new Uint32Array([seed >>> 0])
  return () => {
    state[0] = (state[0] as number) + 0x6d2b79f5
    let t = state[0] as number
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
