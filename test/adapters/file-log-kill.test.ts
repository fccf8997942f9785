import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { fileLog, tempLogPath } from './temp-log.js'

const WRITER = fileURLToPath(new URL('./fixtures/file-log-writer.ts', import.meta.url))

describe('FileLog under kill -9', () => {
  it('keeps every acknowledged append of a process killed mid-stream, and takes over its lock', async () => {
    const path = await tempLogPath()
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const acked = new Set<string>()
    let output = ''
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject)
      child.on('exit', (code) => reject(new Error(`writer exited early with code ${code}`)))
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8')
        const lines = output.split('\n')
        output = lines.pop() ?? ''
        for (const line of lines) acked.add(`tx-${line.slice('acked '.length)}`)
        if (acked.size >= 500) resolve()
      })
    })
    child.removeAllListeners('exit')
    const exited = new Promise((resolve) => child.on('exit', resolve))
    child.kill('SIGKILL')
    await exited

    const log = fileLog({ path })
    const records = await log.load()
    const loaded = new Set(records.map((record) => record.txId))
    expect([...acked].filter((txId) => !loaded.has(txId))).toEqual([])
    expect(records.map((record) => record.txId)).toEqual(
      Array.from({ length: records.length }, (_, n) => `tx-${n}`),
    )
    expect(log.lastLoad?.staleLockPid).toBe(child.pid)
  }, 20_000)
})
