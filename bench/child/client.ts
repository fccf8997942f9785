import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { RemoteUsage } from '../system.js'
import type { HostAnswers, HostCommand, HostReply } from './protocol.js'

const HOST_SCRIPT = fileURLToPath(new URL('./host.ts', import.meta.url))

/**
 * The participants' host: a second Node process, so that the network cells cross a real process
 * boundary on loopback (and use the machine's second core). Spoken to over IPC, one command at a time.
 */
export class ParticipantsHost {
  private nextId = 0
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: HostReply) => {
      const waiter = this.pending.get(reply.id)
      this.pending.delete(reply.id)
      if (reply.ok) waiter?.resolve(reply.result)
      else waiter?.reject(new Error(`participants' host: ${reply.error}`))
    })
    child.once('exit', (code, signal) => {
      for (const waiter of this.pending.values())
        waiter.reject(new Error(`participants' host exited (code ${code}, signal ${signal})`))
      this.pending.clear()
    })
  }

  /** Forks the host with this process's Node options (so `--import ./bench/loader.mjs` and `--cpu-prof` carry over). */
  static start(): ParticipantsHost {
    return new ParticipantsHost(fork(HOST_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  }

  /** Sends `command` and resolves with the host's answer. */
  call<C extends HostCommand>(command: C): Promise<HostAnswers[C['type']]> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.child.send({ id, command })
    })
  }

  /** The host's CPU and event-loop delay, measured between `start()` and `stop()`. */
  usage(): RemoteUsage {
    return {
      start: () => this.call({ type: 'usage-start' }).then(() => {}),
      stop: () => this.call({ type: 'usage-stop' }),
    }
  }

  /** Ends the host process and waits for it to exit. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.disconnect()
    await exited
  }
}
