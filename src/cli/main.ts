#!/usr/bin/env node
/**
 * The `twopc` command (`npx twopc inspect <log>`): see {@link run}. Exit code 0 on success, 1 for
 * a usage error, 2 when the log cannot be read or is corrupt.
 * @packageDocumentation
 */
import { run } from './run.js'

process.exitCode = await run(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
})
