import type { Message } from '../core/messages.js'

/** One line of a recorded exchange: a message, or a note about a node (a crash, a decision). */
export type TraceEntry =
  | { readonly kind: 'message'; readonly message: Message; readonly lost?: boolean }
  | { readonly kind: 'note'; readonly node: string; readonly text: string }

function label(message: Message): string {
  switch (message.type) {
    case 'prepare':
      return `prepare ${JSON.stringify(message.payload)}`
    case 'vote':
      return `vote ${message.vote}`
    case 'ack':
      return message.heuristic === undefined ? 'ack' : `ack (heuristic ${message.heuristic})`
    default:
      return message.type
  }
}

/** Mermaid treats `;` and `#` specially in message text; keep labels readable and safe. */
function mermaidSafe(text: string): string {
  return text.replace(/[;#]/g, ' ').replace(/\n/g, ' ')
}

/**
 * Renders a recorded exchange as a Mermaid sequence diagram, so a person can see the rounds of a
 * transaction (or a simulator counterexample) instead of reading logs. Participants appear in the
 * order given, then in order of first appearance. Lost messages are drawn as crossed arrows.
 *
 * @example
 * ```ts
 * const diagram = sequenceDiagram(entries, ['coord', 'bank-a', 'bank-b'])
 * writeFileSync('trace.md', '```mermaid\n' + diagram + '\n```\n')
 * ```
 */
export function sequenceDiagram(entries: readonly TraceEntry[], nodes: readonly string[] = []): string {
  const order = [...nodes]
  const see = (node: string) => {
    if (!order.includes(node)) order.push(node)
  }
  for (const entry of entries) {
    if (entry.kind === 'message') {
      see(entry.message.from)
      see(entry.message.to)
    } else {
      see(entry.node)
    }
  }
  const lines = ['sequenceDiagram', ...order.map((node) => `  participant ${node}`)]
  for (const entry of entries) {
    if (entry.kind === 'note') {
      lines.push(`  Note over ${entry.node}: ${mermaidSafe(entry.text)}`)
    } else {
      const { message } = entry
      const arrow = entry.lost ? '-x' : '->>'
      lines.push(
        `  ${message.from}${arrow}${message.to}: ${mermaidSafe(`${message.txId} ${label(message)}`)}`,
      )
    }
  }
  return lines.join('\n')
}
