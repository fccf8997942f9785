/**
 * `twopc`: atomic commit across services with two-phase commit (presumed abort).
 * Runs in any JavaScript runtime; Node-only adapters live in `twopc/node`.
 * @packageDocumentation
 */
export { MemoryLog } from './adapters/memory-log.js'
export {
  MemoryNetwork,
  type MemoryNetworkOptions,
  type MemoryNetworkStats,
} from './adapters/memory-network.js'
export {
  type AbortReason,
  type CoordinatorTxStatus,
  type Decision,
  type DropReason,
  type ErrorCode,
  type InDoubtTransaction,
  type Json,
  type LogRecord,
  type Message,
  type MessageType,
  type NodeId,
  parseMessage,
  parseRecord,
  type TransactionInfo,
  TwopcError,
  type TxId,
  type Vote,
} from './core/index.js'
export { MAX_MESSAGE_BYTES, MAX_PAYLOAD_DEPTH } from './core/payload.js'
export {
  type CommitOutcome,
  type CommitRequest,
  Coordinator,
  type CoordinatorEvents,
  type CoordinatorOptions,
  type DecidedOutcome,
  type OutcomeFor,
  type PendingTransaction,
} from './runtime/coordinator.js'
export {
  type Clock,
  type DurableLog,
  type Resource,
  systemClock,
  type Transport,
} from './runtime/interfaces.js'
export type { InvalidMessageEvent, SendFailedEvent } from './runtime/node-runtime.js'
export type { EventMap } from './runtime/options.js'
export {
  type InDoubtEntry,
  Participant,
  type ParticipantEvents,
  type ParticipantOptions,
  type ResourceErrorEvent,
} from './runtime/participant.js'
export { seededRandom } from './runtime/seeded-random.js'
export type { NodeStats } from './runtime/stats.js'
