// A child process for the FileLog lock tests: opens the FileLog at argv[2], appends one record,
// prints `READY pid=<pid> records=<records it loaded>` and waits to be killed. If the log cannot be
// opened it prints `ERROR <code> <message>` and exits with code 1.
import { FileLog } from '../../src/adapters/file-log.js'
import { TwopcError } from '../../src/core/errors.js'

const log = new FileLog({ path: process.argv[2] as string })
try {
  const records = await log.load()
  await log.append([{ type: 'end', txId: `tx-${records.length}` }])
  process.stdout.write(`READY pid=${process.pid} records=${records.length}\n`)
  setInterval(() => {}, 60_000) // hold the lock until killed
} catch (error) {
  const code = error instanceof TwopcError ? error.code : 'UNEXPECTED'
  process.stdout.write(`ERROR ${code} ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
}
