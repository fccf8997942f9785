/**
 * `twopc/postgres`: PostgreSQL as a participant's resource, through prepared transactions
 * (`PREPARE TRANSACTION` / `COMMIT PREPARED` / `ROLLBACK PREPARED`). Needs the optional peer
 * dependency `pg` and a server with `max_prepared_transactions > 0`.
 *
 * - {@link PostgresResource}: the resource; call `start(records)` before the participant starts.
 * - {@link PostgresResourceError}: what `start()` and phase 2 raise, with a `problem` to match on.
 * - {@link encodeGid}: the gid a transaction gets, for operators reading `pg_prepared_xacts`.
 *
 * @packageDocumentation
 */
export { type PostgresProblem, PostgresResourceError } from './adapters/postgres-errors.js'
export { encodeGid, MAX_GID_BYTES, MAX_PREFIX_LENGTH } from './adapters/postgres-gid.js'
export type { PostgresReconcileReport, PreparedTransaction } from './adapters/postgres-reconcile.js'
export {
  PostgresResource,
  type PostgresResourceOptions,
  type PostgresWork,
} from './adapters/postgres-resource.js'
