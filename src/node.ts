/**
 * `twopc/node`: adapters that need Node.js built-ins. Everything else lives in `twopc`, which runs
 * in any JavaScript runtime.
 *
 * - {@link FileLog}: a crash-safe append-only file log with group commit, torn-tail repair,
 *   compaction and an exclusive lock.
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
