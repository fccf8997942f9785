/**
 * `twopc/testing`: tools for testing twopc and adapters written for it.
 * @packageDocumentation
 */
export { MemoryLog } from '../adapters/memory-log.js'
export { MemoryNetwork } from '../adapters/memory-network.js'
export { type QueuedItem, ReadyQueue } from '../runtime/ready-queue.js'
export { seededRandom } from '../runtime/seeded-random.js'
export {
  type DurableLogFactory,
  type DurableLogStorage,
  runDurableLogConformance,
} from './durable-log-conformance.js'
export { describeFaultMix, drawFaultMix, type FaultMix, type PlannedTransaction } from './fault-mix.js'
export {
  INVARIANTS,
  type InvariantName,
  InvariantTracker,
  InvariantViolation,
  recordKey,
  type Violation,
} from './invariants.js'
export {
  CI_MODEL_CHECKS,
  type CrashTargets,
  checkModel,
  DEEP_MODEL_CHECKS,
  formatModelCheckerResult,
  type ModelCheckerConfig,
  type ModelCheckerResult,
} from './model-checker.js'
export {
  type CoordinatorSimCore,
  type CoreFactory,
  createCores,
  MUTANTS,
  type MutantName,
  type ParticipantSimCore,
  type SimCore,
} from './mutants.js'
export { PROBE_NAMES, PROBES, type ProbeName } from './probes.js'
export {
  formatRuntimeSimulationFailure,
  type RuntimeSimulationMutant,
  type RuntimeSimulationOptions,
  type RuntimeSimulationResult,
  simulateRuntime,
} from './runtime-simulator.js'
export { sequenceDiagram, type TraceEntry } from './sequence-diagram.js'
export { type Replay, replay, shrinkHistory } from './shrink.js'
export {
  DEFAULT_SIM_TIMING,
  describeAction,
  type NetworkSemantics,
  SimCluster,
  type SimClusterOptions,
  type SimTiming,
} from './sim-cluster.js'
export { SimDisk, type SimDiskLoad } from './sim-disk.js'
export { SimLog, type SimLogOptions } from './sim-log.js'
export { type InFlightMessage, SimLinks, SimNetwork } from './sim-network.js'
export { type ArmedTimer, type PendingReady, type SimEvent, SimNode } from './sim-node.js'
export {
  HAPPY_RESOURCE,
  type PrepareBehaviour,
  type ResourceBehaviour,
  type ResourceCall,
  type ResourceResult,
  resourceResult,
} from './sim-resource.js'
export {
  clusterFor,
  formatSimulationFailure,
  minimizeFailure,
  replayLine,
  runToTermination,
  type SimulationOptions,
  type SimulationResult,
  simulate,
  simulateMany,
} from './simulator.js'
export {
  arrowTrace,
  describeKey,
  describeMessage,
  describeRecord,
  formatTrace,
  type LossReason,
  type SimAction,
} from './trace.js'
export {
  CONFORMANCE_NODES,
  runTransportConformance,
  type TransportConformanceFactory,
  type TransportConformanceHarness,
} from './transport-conformance.js'
