/**
 * `twopc/node`: adapters that need Node.js built-ins. Everything else lives in `twopc`, which runs
 * in any JavaScript runtime.
 *
 * - {@link FileLog}: a crash-safe append-only file log with group commit, torn-tail repair,
 *   compaction and an exclusive lock.
 * - {@link TcpTransport}: framed, authenticated TCP with reconnect and bounded per-peer queues.
 * - {@link HttpTransport}: a request handler for any `node:http` server plus a batching client (`node:http`/`node:https`, keep-alive).
 *
 * @packageDocumentation
 */
export {
  FileLog,
  type FileLogIo,
  type FileLogLoadReport,
  type FileLogOptions,
  type FileLogStats,
  type FileLogStep,
} from './adapters/file-log.js'
export type { AuthOptions } from './adapters/hmac-auth.js'
export {
  HttpTransport,
  type HttpTransportOptions,
  type HttpTransportStats,
} from './adapters/http-transport.js'
export {
  TcpTransport,
  type TcpTransportOptions,
  type TcpTransportStats,
} from './adapters/tcp-transport.js'
export {
  INBOUND_REJECTION_REASONS,
  type InboundRejection,
  type InboundRejectionReason,
  type NetworkTransportEvents,
  type NetworkTransportStats,
  type OutboundDrop,
  type OutboundDropReason,
} from './adapters/transport-events.js'
export type { OutboundOptions } from './adapters/transport-options.js'
export type {
  AuthenticationFailure,
  AuthenticationRefused,
  PeerHealth,
  PeerReachable,
  PeerUnreachable,
} from './adapters/transport-peer-health.js'
export type {
  PreAuthenticationOptions,
  PreAuthenticationStats,
  UnauthenticatedCloseReason,
} from './adapters/transport-preauth-gate.js'
