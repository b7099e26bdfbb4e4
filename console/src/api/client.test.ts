import { describe, expect, it } from 'vitest';
import { ApiClient, ApiRequestError, queryString } from './client';

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

/** A client over a fake fetch that records what it was asked and answers `reply`. */
function clientWith(reply: () => Response) {
  const sent: Sent[] = [];
  const client = new ApiClient(async (url, init) => {
    sent.push({ url: String(url), method: init!.method!, headers: init!.headers as Record<string, string>, body: init!.body as string | undefined });
    return reply();
  });
  return { client, sent };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => () => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

describe("the console's API client", () => {
  it('fills path parameters percent-encoded and leaves empty query values out', () => {
    const client = new ApiClient();
    expect(client.url('getGroup', { params: { name: 'alice', group: 'a b/c' } })).toBe('/api/v1/users/alice/groups/a%20b%2Fc');
    expect(() => client.url('getUser')).toThrow('no value for :name');
    expect(client.url('auditCsv', { query: { actor: 'root', action: undefined } })).toBe('/api/v1/audit.csv?actor=root');
    expect(queryString({ q: 'al', page: 2, sort: undefined, empty: '' })).toBe('?q=al&page=2');
    expect(queryString({})).toBe('');
  });

  it('sends the CSRF token on mutations only, and never on the login itself', async () => {
    const { client, sent } = clientWith(json(200, { items: [], total: 0, page: 1, pageSize: 50 }));
    client.csrfToken = 'token-1';
    await client.call('listUsers', { query: { q: 'al' } });
    await client.call('updateUser', { params: { name: 'alice' }, body: { disabled: true } });
    await client.call('login', { body: { name: 'root', password: 'x' } });
    expect(sent.map((s) => [s.method, s.url, s.headers['X-CSRF-Token']])).toEqual([
      ['GET', '/api/v1/users?q=al', undefined],
      ['PATCH', '/api/v1/users/alice', 'token-1'],
      ['POST', '/api/v1/session', undefined],
    ]);
    expect(sent[1].headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(sent[1].body!)).toEqual({ disabled: true });
  });

  it('sends a CSV body as text/csv, If-Match when given, and hands back the ETag', async () => {
    const { client, sent } = clientWith(json(200, { senders: [] }, { ETag: '"v2"' }));
    const res = await client.call('putBlocked', { params: { name: 'alice' }, body: { senders: [] }, ifMatch: '"v1"' });
    expect(res.etag).toBe('"v2"');
    expect(sent[0].headers['If-Match']).toBe('"v1"');
    await client.call('importUsers', { query: { dryRun: 'true' }, body: 'name,password,displayName\n' });
    expect(sent[1].headers['Content-Type']).toBe('text/csv; charset=utf-8');
    expect(sent[1].body).toBe('name,password,displayName\n');
  });

  it("turns the API's error shape into an ApiRequestError with its code and field", async () => {
    const { client } = clientWith(json(400, { error: { code: 'validation_failed', message: 'bad name', field: 'name' } }));
    const err = await client.call('createUser', { body: { name: '-x' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiRequestError);
    expect(err).toMatchObject({ status: 400, code: 'validation_failed', message: 'bad name', field: 'name' });
    const plain = await clientWith(() => new Response('<html>proxy error</html>', { status: 502, statusText: 'Bad Gateway' })).client.call('status').catch((e: unknown) => e);
    expect(plain).toMatchObject({ status: 502, code: 'http_502', message: 'Bad Gateway' });
  });

  it('reports a 401 as the end of the session, except for the login and the session probe', async () => {
    const { client } = clientWith(json(401, { error: { code: 'unauthorized', message: 'no session' } }));
    let ended = 0;
    client.onUnauthorized = () => ended++;
    await client.call('status').catch(() => undefined);
    await client.call('session').catch(() => undefined);
    await client.call('login', { body: { name: 'root', password: 'x' } }).catch(() => undefined);
    expect(ended).toBe(1);
  });

  it('answers void for 204', async () => {
    const { client } = clientWith(() => new Response(null, { status: 204 }));
    expect((await client.call('logout')).data).toBeUndefined();
  });
});
