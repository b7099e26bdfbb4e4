import { describe, expect, it } from 'vitest';
import { ROUTES, allowed, pathOf, type RouteSpec } from './routes.js';
import { CreateUserRequestSchema, UserListQuerySchema } from './users.js';
import { GroupBodySchema } from './groups.js';

describe('the route table', () => {
  it('declares a params schema for every :param of a path, and no other', () => {
    for (const [id, r] of Object.entries(ROUTES) as [string, RouteSpec][]) {
      const names = [...r.path.matchAll(/:(\w+)/g)].map((m) => m[1]).sort();
      const shape = r.params ? Object.keys((r.params as unknown as { shape: Record<string, unknown> }).shape).sort() : [];
      expect(shape, id).toEqual(names);
    }
  });

  it('lets support read but never write (exporting a conversation is a read), and keeps the audit log for admins', () => {
    for (const [id, r] of Object.entries(ROUTES) as [keyof typeof ROUTES, RouteSpec][]) {
      if (r.roles === 'public') continue;
      expect(allowed('admin', id), id).toBe(true);
      expect(allowed('support', id), id).toBe(r.method === 'GET' && !id.startsWith('audit') ? true : id === 'logout' || id === 'createExport');
      expect(allowed(null, id), id).toBe(false);
    }
  });
});

describe('pathOf', () => {
  it('fills in and encodes the params of a route', () => {
    expect(pathOf('getGroup', { name: 'alice', group: 'team' })).toBe('/api/v1/users/alice/groups/team');
    expect(pathOf('purgeDeferred', { user: 'a b' })).toBe('/api/v1/deferred/a%20b');
    expect(() => pathOf('getUser')).toThrow(/:name/);
  });
});

describe('request schemas', () => {
  it('keep user names in lower case and refuse unknown fields by name', () => {
    expect(CreateUserRequestSchema.parse({ name: 'Alice' }).name).toBe('alice');
    const bad = CreateUserRequestSchema.safeParse({ name: 'alice', admin: true });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['admin'] });
    expect(CreateUserRequestSchema.safeParse({ name: 'al ice' }).error!.issues[0].path).toEqual(['name']);
  });

  it('read paging from the query string, with a bounded page size', () => {
    expect(UserListQuerySchema.parse({ page: '2' })).toEqual({ sort: 'name', order: 'asc', page: 2, pageSize: 50 });
    expect(UserListQuerySchema.safeParse({ pageSize: '201' }).error!.issues[0].path).toEqual(['pageSize']);
  });

  it('check group members as URIs', () => {
    expect(GroupBodySchema.safeParse({ displayName: 'Team', visibility: 'public', members: ['sip:bob@example.com'] }).success).toBe(true);
    expect(GroupBodySchema.safeParse({ displayName: 'Team', visibility: 'public', members: ['bob'] }).error!.issues[0].path).toEqual(['members', 0]);
  });
});
