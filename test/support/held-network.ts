import type { Message, Transport } from '../../src/index.js'

/**
 * A network that delivers only when told, every queued message in one turn (a JSON copy of each),
 * and loses the messages `lose` picks.
 */
export class HeldNetwork {
  private readonly handlers = new Map<string, (message: unknown) => void>()
  private queued: Message[] = []

  constructor(private readonly lose: (message: Message) => boolean = () => false) {}

  connect(id: string): Transport {
    return {
      send: (message) => {
        if (!this.lose(message)) this.queued.push(message)
      },
      onMessage: (handler) => {
        this.handlers.set(id, handler)
      },
    }
  }

  /** Delivers everything queued so far, in one synchronous call; returns how many messages. */
  flush(): number {
    const batch = this.queued
    this.queued = []
    for (const message of batch) this.handlers.get(message.to)?.(JSON.parse(JSON.stringify(message)))
    return batch.length
  }
}
