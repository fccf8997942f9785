/**
 * `twopc/core`: the protocol as pure state machines, for bringing your own loop.
 * Nothing here awaits, reads a clock, draws `Math.random` or imports a runtime or `node:` module.
 * @packageDocumentation
 */
export { backoffDelayMs } from './backoff.js'
export {
  CoordinatorCore,
  type CoordinatorCoreOptions,
  type CoordinatorInput,
  type CoordinatorTxStatus,
} from './coordinator.js'
export { type ErrorCode, TwopcError } from './errors.js'
export * from './messages.js'
export type { CommonCoreOptions, ResolvedCommonOptions } from './options.js'
export {
  type InDoubtTransaction,
  ParticipantCore,
  type ParticipantCoreOptions,
  type ParticipantInput,
} from './participant.js'
export type {
  ClearTimer,
  CoordinatorCoreEvent,
  DropReason,
  ParticipantCoreEvent,
  Ready,
  ResourceRequest,
  SetTimer,
  TimerEffect,
  TimerKind,
} from './ready.js'
export * from './records.js'
export * from './types.js'
