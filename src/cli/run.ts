import { open } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { DEFAULT_MAX_RECORD_BYTES, decodeLog, MAX_FRAME_LENGTH } from '../adapters/file-log-format.js'
import { readAll } from '../adapters/fs-io.js'
import { TwopcError } from '../core/errors.js'
import { DEFAULT_RECENT, type InspectReport, inspectLog } from './inspect.js'
import { formatReport } from './inspect-table.js'

/** The usage line `twopc` prints with a usage error (exit code 1) and for `--help`. */
export const USAGE = 'Usage: twopc inspect <log> [--json] [--recent K] [--max-record-bytes N]'

/** Exit codes of `twopc`: success, a usage error, a log that cannot be read or is corrupt. */
export const EXIT = { ok: 0, usage: 1, unreadable: 2 } as const

/** How long to wait before reading a log that failed to decode once more. */
const REREAD_DELAY_MS = 100

/** Where `twopc` writes: standard output and standard error in `main.ts`, strings in tests. */
export interface Output {
  out(text: string): void
  err(text: string): void
}

/**
 * Runs the `twopc` command line (`args` without `node` and the script) and returns its exit code.
 * `inspect` reads the log read-only: it takes no lock and never writes, so it is safe to run
 * while the service that owns the log runs and appends.
 */
export async function run(args: readonly string[], output: Output): Promise<number> {
  let parsed: ReturnType<typeof parseCommand>
  try {
    parsed = parseCommand(args)
  } catch (error) {
    output.err(`twopc: ${(error as Error).message}\n${USAGE}\n`)
    return EXIT.usage
  }
  if (parsed === 'help') {
    output.out(`${USAGE}\n`)
    return EXIT.ok
  }
  let report: InspectReport
  try {
    report = await inspectFile(parsed.path, parsed.recent, parsed.maxRecordBytes)
  } catch (error) {
    const message = (error as Error).message
    // A length over the bound may be a valid record of a log written with a larger maxRecordBytes.
    const hint = message.includes('more than maxRecordBytes')
      ? `twopc: inspect took maxRecordBytes to be ${parsed.maxRecordBytes}; if this is a twopc log written with a larger one, pass it: --max-record-bytes N (if not, check the path)\n`
      : ''
    output.err(`twopc: ${message}\n${hint}`)
    return EXIT.unreadable
  }
  output.out(
    parsed.json
      ? `${JSON.stringify({ path: parsed.path, ...report }, null, 2)}\n`
      : formatReport(parsed.path, report),
  )
  return EXIT.ok
}

function parseCommand(args: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      recent: { type: 'string' },
      'max-record-bytes': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return 'help' as const
  const [command, path, ...extra] = positionals
  if (command !== 'inspect')
    throw new Error(command === undefined ? 'missing command' : `unknown command '${command}'`)
  if (path === undefined) throw new Error('missing the log file path')
  if (extra.length > 0) throw new Error(`unexpected argument '${extra[0]}'`)
  const recent = wholeNumber('--recent', values.recent, DEFAULT_RECENT, 0)
  const maxRecordBytes = wholeNumber(
    '--max-record-bytes',
    values['max-record-bytes'],
    DEFAULT_MAX_RECORD_BYTES,
    1,
    MAX_FRAME_LENGTH,
  )
  return { path, json: values.json === true, recent, maxRecordBytes }
}

/** The value of a whole-number option, `fallback` when absent; throws a usage error otherwise. */
function wholeNumber(
  name: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!/^[0-9]+$/.test(text) || value < min || value > max)
    throw new Error(`expected ${name} to be a whole number from ${min} to ${max}, got '${text}'`)
  return value
}

/**
 * Reads the whole file through a read-only handle and decodes it as `load()` would with
 * `maxRecordBytes` (so a frame declaring more is corruption, not a tail being written). A frame the
 * writer is still appending is a torn tail to `decodeLog` and is reported as such; a checksum
 * failure in the middle may be a write caught half-way, so a failed decode is read once more
 * before it is reported as corruption.
 */
async function inspectFile(path: string, recent: number, maxRecordBytes: number): Promise<InspectReport> {
  for (let attempt = 1; ; attempt += 1) {
    const bytes = await readOnly(path)
    try {
      const decoded = decodeLog(bytes, path, maxRecordBytes)
      return inspectLog(decoded.entries, bytes.length - decoded.validBytes, recent)
    } catch (error) {
      if (attempt >= 2 || !(error instanceof TwopcError && error.code === 'LOG_CORRUPTED')) throw error
    }
    await new Promise((resolve) => setTimeout(resolve, REREAD_DELAY_MS))
  }
}

async function readOnly(path: string): Promise<Buffer> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(path, 'r')
  } catch (error) {
    throw new TwopcError('LOG_IO', `Cannot open log file ${path}: ${(error as Error).message}`, {
      cause: error,
    })
  }
  try {
    return await readAll(handle, (await handle.stat()).size)
  } catch (error) {
    throw new TwopcError('LOG_IO', `Cannot read log file ${path}: ${(error as Error).message}`, {
      cause: error,
    })
  } finally {
    await handle.close()
  }
}
