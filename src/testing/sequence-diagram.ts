import type { Message } from '../core/messages.js'

/** One line of a recorded exchange: a message, or a note about a node (a crash, a decision). */
export type TraceEntry =
  | { readonly kind: 'message'; readonly message: Message; readonly lost?: boolean }
  | { readonly kind: 'note'; readonly node: string; readonly text: string }

function label(message: Message): string {
  switch (message.type) {
    case 'prepare': {
      // A probe (bound to no life yet) and a one-phase request, as the simulators' traces name them.
      const kinds = [message.onePhase ? '1pc' : '', message.inc === 0 ? 'probe' : ''].filter(Boolean)
      return `prepare${kinds.length > 0 ? `(${kinds.join(',')})` : ''} ${JSON.stringify(message.payload)}`
    }
    case 'vote':
      // A refusal is a `no` that says "not for this life", not a vote against the transaction.
      return message.refused === undefined ? `vote ${message.vote}` : 'vote refused'
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

/** Words Mermaid's sequence diagrams reserve, which a node id must not be written as. */
const KEYWORDS = new Set(
  'participant actor as note over left right of end loop alt else opt par and rect critical break box autonumber activate deactivate title links link create destroy'.split(
    ' ',
  ),
)

/** How a node is named in the diagram: its id when Mermaid can take it as is, else an alias. */
function namer(): (node: string) => { readonly ref: string; readonly declaration: string } {
  let aliases = 0
  return (node) => {
    if (/^[A-Za-z0-9_-]+$/.test(node) && !KEYWORDS.has(node.toLowerCase()))
      return { ref: node, declaration: `participant ${node}` }
    aliases += 1
    const ref = `node${aliases}`
    return { ref, declaration: `participant ${ref} as ${mermaidSafe(node).replace(/[,:<>+]/g, ' ')}` }
  }
}

/**
 * Renders a recorded exchange as a Mermaid sequence diagram, so a person can see the rounds of a
 * transaction (or a simulator counterexample) instead of reading logs. Participants appear in the
 * order given, then in order of first appearance; an id Mermaid cannot take as is (a space, `;`, a
 * keyword such as `end`) is drawn through an alias. Lost messages are drawn as crossed arrows; a
 * probe `prepare` (bound to no life yet) and a refusal are labelled as such.
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
  const name = namer()
  const names = new Map(order.map((node) => [node, name(node)]))
  const ref = (node: string) => (names.get(node) as { readonly ref: string }).ref
  const lines = ['sequenceDiagram', ...[...names.values()].map(({ declaration }) => `  ${declaration}`)]
  for (const entry of entries) {
    if (entry.kind === 'note') {
      lines.push(`  Note over ${ref(entry.node)}: ${mermaidSafe(entry.text)}`)
    } else {
      const { message } = entry
      const arrow = entry.lost ? '-x' : '->>'
      lines.push(
        `  ${ref(message.from)}${arrow}${ref(message.to)}: ${mermaidSafe(`${message.txId} ${label(message)}`)}`,
      )
    }
  }
  return lines.join('\n')
}
