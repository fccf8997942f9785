/**
 * `twopc/testing`: tools for testing twopc and adapters written for it.
 * @packageDocumentation
 */
export { MemoryLog } from '../adapters/memory-log.js'
export { MemoryNetwork } from '../adapters/memory-network.js'
export { seededRandom } from '../runtime/seeded-random.js'
export {
  type DurableLogFactory,
  type DurableLogStorage,
  runDurableLogConformance,
} from './durable-log-conformance.js'
export { sequenceDiagram, type TraceEntry } from './sequence-diagram.js'
export {
  CONFORMANCE_NODES,
  runTransportConformance,
  type TransportConformanceFactory,
  type TransportConformanceHarness,
} from './transport-conformance.js'
