import fc from 'fast-check'

/**
 * Property tests are pinned in CI so that a run is reproducible: the seed comes from
 * TWOPC_FC_SEED, or a fixed one when CI is set. Locally they draw a fresh seed each run (printed on
 * failure with the path to replay it), which keeps exploring new cases.
 */
const pinned = process.env.TWOPC_FC_SEED ?? (process.env.CI ? '20261126' : undefined)
if (pinned !== undefined) fc.configureGlobal({ seed: Number(pinned) })
