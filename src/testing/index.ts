/**
 * `twopc/testing`: tools for testing twopc and adapters written for it.
 * @packageDocumentation
 */
export { MemoryLog } from '../adapters/memory-log.js'
export { MemoryNetwork } from '../adapters/memory-network.js'
export { seededRandom } from '../runtime/seeded-random.js'
