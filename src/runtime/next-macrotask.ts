/**
 * Runs `callback` on the next turn of the event loop: `setImmediate` where it exists (Node, Bun),
 * else `setTimeout(0)` (browsers, Deno, edge runtimes). Node clamps `setTimeout(0)` to 1 ms, which
 * would add a millisecond to every simulated sync and delivery of the in-memory adapters.
 */
export function nextMacrotask(callback: () => void): void {
  if (typeof globalThis.setImmediate === 'function') globalThis.setImmediate(callback)
  else setTimeout(callback, 0)
}
