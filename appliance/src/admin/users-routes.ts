import { Brackets, type DataSource } from 'typeorm';
import { LIMITS, TRANSPORTS, type User, type UserDetail } from '@parley/shared';
import { UserEntity, type UserRow } from '../store/entities.js';
import type { LocalDomain } from '../core/local-domain.js';
import type { LocationService } from '../core/location-service.js';
import { UserError, type UserManagement } from '../core/user-management.js';
import { ImportFormatError } from '../core/user-import.js';
import type { Handlers } from './admin-api.js';
import { ApiError } from './api-error.js';

const SORT_COLUMNS = { name: 'u.username', createdAt: 'u.created_at', displayName: 'u.display_name' } as const;

/** A UserError as the API says it: 404, 409 or 400 naming the field. */
function fromUserError(err: unknown, field?: string): never {
  if (err instanceof UserError) {
    if (err.kind === 'not_found') throw new ApiError(404, 'not_found', err.message);
    if (err.kind === 'exists') throw new ApiError(409, 'exists', err.message, field);
    throw new ApiError(400, 'invalid_value', err.message, /password/.test(err.message) ? 'password' : /display name/.test(err.message) ? 'displayName' : field);
  }
  throw err;
}

/** The user's view without secrets (never the digest hashes): for responses and audit records. */
const audited = (r: UserRow) => ({ name: r.username, displayName: r.displayName, disabled: r.disabled });

/**
 * Users (issue 8, point 3) through `UserManagement`, the CLI's code path. The list is a paged SQL
 * query (indexes on name, created_at, display_name), so 10,000 users stay fast.
 */
export function usersRoutes(
  ds: DataSource,
  manage: UserManagement,
  location: LocationService,
  domain: LocalDomain,
  /** the user's provisioning URL (provisioning/provisioning-route.ts) */
  provisioningUrlOf: (name: string) => string,
): Pick<Handlers, 'listUsers' | 'createUser' | 'getUser' | 'updateUser' | 'resetPassword' | 'deleteUser' | 'importUsers'> {
  const devices = (name: string) => location.lookup(domain.aor(name));
  const view = (r: UserRow): User => ({ name: r.username, displayName: r.displayName, disabled: r.disabled, createdAt: new Date(r.createdAt).toISOString(), devices: devices(r.username).length });
  const detail = (r: UserRow): UserDetail => {
    const byTransport = Object.fromEntries(TRANSPORTS.map((t) => [t, 0])) as UserDetail['devicesByTransport'];
    for (const b of devices(r.username)) {
      const t = b.transport.toLowerCase() as keyof typeof byTransport;
      if (t in byTransport) byTransport[t]++;
    }
    return { ...view(r), devicesByTransport: byTransport, provisioningUrl: provisioningUrlOf(r.username) };
  };
  const find = (name: string) => manage.users.find(name).catch((e: unknown) => fromUserError(e));

  return {
    async listUsers({ query }) {
      const q = ds.getRepository(UserEntity).createQueryBuilder('u');
      if (query.q) {
        const like = `%${query.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        q.where(new Brackets((w) => w.where("u.username LIKE :like ESCAPE '\\'", { like }).orWhere("u.display_name LIKE :like ESCAPE '\\'", { like })));
      }
      const dir = query.order === 'desc' ? 'DESC' : 'ASC';
      q.orderBy(SORT_COLUMNS[query.sort], dir);
      if (query.sort !== 'name') q.addOrderBy('u.username', 'ASC');
      const [rows, total] = await q
        .skip((query.page - 1) * query.pageSize)
        .take(query.pageSize)
        .getManyAndCount();
      return { items: rows.map(view), total, page: query.page, pageSize: query.pageSize };
    },

    async createUser(req) {
      const { name, password, displayName } = req.body;
      const { row, generated } = await manage.create(name, password, displayName ?? null).catch((e: unknown) => fromUserError(e, 'name'));
      await req.audit('user.create', row.username, null, audited(row));
      return { ...detail(row), ...(generated !== undefined ? { password: generated } : {}) };
    },

    async getUser({ params }) {
      return detail(await find(params.name));
    },

    async updateUser(req) {
      const before = await find(req.params.name);
      const was = audited(before);
      let row = before;
      try {
        if (req.body.displayName !== undefined) row = await manage.setDisplayName(row.username, req.body.displayName);
        // disabling revokes service: the directory drops the user's registrations at once
        if (req.body.disabled !== undefined && req.body.disabled !== row.disabled) row = await manage.setDisabled(row.username, req.body.disabled);
      } catch (e) {
        fromUserError(e);
      }
      await req.audit(req.body.disabled === true && !was.disabled ? 'user.disable' : req.body.disabled === false && was.disabled ? 'user.enable' : 'user.update', row.username, was, audited(row));
      return detail(row);
    },

    async resetPassword(req) {
      const row = await find(req.params.name);
      const { generated } = await manage.resetPassword(row.username, req.body.password).catch((e: unknown) => fromUserError(e, 'password'));
      await req.audit('user.reset_password', row.username, null, { generated: generated !== undefined });
      return generated !== undefined ? { password: generated } : {};
    },

    async deleteUser(req) {
      const { row, documents, storedMessages } = await manage.remove(req.params.name).catch((e: unknown) => fromUserError(e));
      await req.audit('user.delete', row.username, audited(row), { documents, storedMessages });
      return { removed: { documents, storedMessages } };
    },

    async importUsers(req) {
      const { dryRun, onConflict, generatePasswords } = req.query;
      let out;
      try {
        out = await manage.import(req.body, { dryRun, onConflict, generatePasswords, requireHeader: true, maxRows: LIMITS.maxCsvRows });
      } catch (e) {
        if (e instanceof ImportFormatError) throw new ApiError(e.message.startsWith('more than') ? 413 : 400, 'invalid_csv', e.line !== undefined ? `line ${e.line}: ${e.message}` : e.message, 'body');
        fromUserError(e);
      }
      if (out.applied) {
        const created = out.rows.filter((r) => r.verdict === 'create').map((r) => r.name);
        // the names, up to a bound: an audit row per import, not a copy of a 10,000-row file
        await req.audit('user.import', null, null, { created: created.slice(0, 1000), createdCount: created.length, skipped: out.rows.length - created.length, onConflict });
      }
      return { dryRun, applied: out.applied, rows: out.rows, rejectedCsv: out.rejectedCsv };
    },
  };
}
