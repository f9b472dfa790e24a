import {
  AnnotationQuery,
  CoreApp,
  DataQueryRequest,
  DataQueryResponse,
  dateTime,
  FieldType,
  LiveChannelScope,
  LoadingState,
  toDataFrame,
} from '@grafana/data';
import {
  BackendSrv,
  BackendSrvRequest,
  GrafanaLiveSrv,
  LiveDataStreamOptions,
  setBackendSrv,
  setGrafanaLiveSrv,
  setTemplateSrv,
} from '@grafana/runtime';
import { lastValueFrom, Observable, of, toArray } from 'rxjs';

import { DataSource } from './datasource';
import { tailPath } from './tail';
import { FakeTemplateSrv, instanceSettings } from './testUtils';
import { AuditFilters, AuditQuery, AuditVariableQuery, emptyFilters } from './types';

let templateSrv: FakeTemplateSrv;
let fetched: BackendSrvRequest[];
let streams: LiveDataStreamOptions[];

beforeEach(() => {
  templateSrv = new FakeTemplateSrv({
    action: ['login', 'logout'],
    user: 'alice',
    team: ['a,b', 'c|d', '{e}'],
    env: ['prod', 'dev'],
    limit: '50',
    eid: 'evt-42',
    nothing: '',
  });
  setTemplateSrv(templateSrv.asTemplateSrv());

  fetched = [];
  setBackendSrv({
    fetch: (req: BackendSrvRequest) => {
      fetched.push(req);
      return of({
        data: { results: { A: { status: 200, frames: [] } } },
        status: 200,
        ok: true,
        headers: new Headers(),
        redirected: false,
        statusText: 'OK',
        type: 'basic',
        url: req.url,
        config: req,
      });
    },
  } as unknown as BackendSrv);

  streams = [];
  setGrafanaLiveSrv({
    getDataStream: (opts: LiveDataStreamOptions): Observable<DataQueryResponse> => {
      streams.push(opts);
      return of({ key: opts.key, data: [toDataFrame({ fields: [{ name: 'action', values: ['live-event'] }] })] });
    },
  } as unknown as GrafanaLiveSrv);
});

function query(filters: Partial<AuditFilters>, rest: Partial<AuditQuery> = {}): AuditQuery {
  return { refId: 'A', queryType: 'logs', filters: { ...emptyFilters(), ...filters }, ...rest };
}

function request(targets: AuditQuery[]): DataQueryRequest<AuditQuery> {
  const now = dateTime();
  return {
    requestId: 'r1',
    interval: '1m',
    intervalMs: 60000,
    range: { from: now, to: now, raw: { from: 'now-1h', to: 'now' } },
    scopedVars: {},
    targets,
    timezone: 'utc',
    app: CoreApp.Dashboard,
    startTime: 0,
  };
}

function sentQueries(): AuditQuery[] {
  expect(fetched).toHaveLength(1);
  return (fetched[0].data as { queries: AuditQuery[] }).queries;
}

describe('applyTemplateVariables', () => {
  const ds = () => new DataSource(instanceSettings());

  it('expands a multi-value variable into several filter entries', () => {
    const q = ds().applyTemplateVariables(query({ actions: ['$action'] }), {});
    expect(q.filters?.actions).toEqual(['login', 'logout']);
  });

  it('keeps values with commas, pipes and braces whole', () => {
    const q = ds().applyTemplateVariables(query({ users: ['${team}'], apps: ['[[team]]'] }), {});
    expect(q.filters?.users).toEqual(['a,b', 'c|d', '{e}']);
    expect(q.filters?.apps).toEqual(['a,b', 'c|d', '{e}']);
  });

  it('keeps text around a multi-value variable on every value', () => {
    const q = ds().applyTemplateVariables(query({ apps: ['app-$env'], countries: ['$env-$action'] }), {});
    expect(q.filters?.apps).toEqual(['app-prod', 'app-dev']);
    expect(q.filters?.countries).toEqual(['prod-login', 'prod-logout', 'dev-login', 'dev-logout']);
  });

  it('interpolates single values, drops duplicates and empty values, keeps plain entries', () => {
    const q = ds().applyTemplateVariables(
      query({ users: ['$user', 'alice', 'bob', '$nothing'], clientIps: ['10.0.0.0/8'] }),
      {}
    );
    expect(q.filters?.users).toEqual(['alice', 'bob']);
    expect(q.filters?.clientIps).toEqual(['10.0.0.0/8']);
  });

  it('treats the "All" value * as no filter', () => {
    templateSrv.vars.country = '*';
    templateSrv.vars.app = ['*'];
    const q = ds().applyTemplateVariables(
      query({ countries: ['$country'], apps: ['$app', 'authentik'], actions: ['*'], users: ['$user'] }),
      {}
    );
    expect(q.filters).toEqual({ ...emptyFilters(), users: ['alice'] });
  });

  it('prefers scoped variables (repeated panels)', () => {
    const q = ds().applyTemplateVariables(query({ actions: ['$action'] }), {
      action: { text: 'sso', value: 'sso' },
    });
    expect(q.filters?.actions).toEqual(['sso']);
  });

  it('leaves unknown variables as written', () => {
    const q = ds().applyTemplateVariables(query({ actions: ['$unknown'] }), {});
    expect(q.filters?.actions).toEqual(['$unknown']);
  });

  it('interpolates search and event id', () => {
    const q = ds().applyTemplateVariables(query({ search: 'failed for $user', eventId: ' ${eid} ' }), {});
    expect(q.filters?.search).toBe('failed for alice');
    expect(q.filters?.eventId).toBe('evt-42');
    const multi = ds().applyTemplateVariables(query({ search: '$action' }), {});
    expect(multi.filters?.search).toBe('login logout');
  });

  it('interpolates and bounds the limit', () => {
    const d = ds();
    expect(d.applyTemplateVariables(query({}, { limit: '$limit' as unknown as number }), {}).limit).toBe(50);
    expect(d.applyTemplateVariables(query({}, { limit: 50000 }), {}).limit).toBe(10000);
    expect(d.applyTemplateVariables(query({}, { limit: 25 }), {}).limit).toBe(25);
    // no usable limit: none is sent, the backend applies the query type's default
    for (const limit of [0, -5, undefined, '', '$unknown', 'ten']) {
      const q = d.applyTemplateVariables(query({}, { limit: limit as number }), {});
      expect(q).not.toHaveProperty('limit');
    }
  });

  it('completes a query without filters', () => {
    const q = ds().applyTemplateVariables({ refId: 'A' }, {});
    expect(q).toEqual({ refId: 'A', queryType: 'logs', filters: emptyFilters() });
  });
});

describe('filterQuery and getDefaultQuery', () => {
  const ds = new DataSource(instanceSettings());

  it('skips hidden queries and details without an event id', () => {
    expect(ds.filterQuery(query({}))).toBe(true);
    expect(ds.filterQuery(query({}, { hide: true }))).toBe(false);
    expect(ds.filterQuery(query({}, { queryType: 'details' }))).toBe(false);
    expect(ds.filterQuery(query({ eventId: '  ' }, { queryType: 'details' }))).toBe(false);
    expect(ds.filterQuery(query({ eventId: 'e1' }, { queryType: 'details' }))).toBe(true);
    expect(ds.filterQuery(query({}, { queryType: 'diff' }))).toBe(true);
  });

  it('defaults to a logs query with empty filters and limit 1000', () => {
    expect(ds.getDefaultQuery(CoreApp.PanelEditor)).toEqual({
      queryType: 'logs',
      filters: emptyFilters(),
      limit: 1000,
    });
  });
});

describe('query', () => {
  it('sends interpolated queries to the backend and leaves out the ones that cannot run', async () => {
    const ds = new DataSource(instanceSettings());
    await lastValueFrom(
      ds.query(
        request([
          query({ actions: ['$action'], search: '$user' }, { refId: 'A', limit: 20 }),
          query({}, { refId: 'B', queryType: 'details' }),
          query({}, { refId: 'C', hide: true }),
        ])
      )
    );
    const queries = sentQueries();
    expect(queries.map((q) => q.refId)).toEqual(['A']);
    expect(queries[0].filters).toEqual({ ...emptyFilters(), actions: ['login', 'logout'], search: 'alice' });
    expect(queries[0].limit).toBe(20);
    expect(fetched[0].url).toContain('/api/ds/query');
    expect(streams).toHaveLength(0);
  });

  it('adds the live tail stream of a live logs query to its results', async () => {
    const ds = new DataSource(instanceSettings());
    const responses = await lastValueFrom(
      ds.query(request([query({ actions: ['$action'], users: ['$user'] }, { live: true, limit: 300 })])).pipe(toArray())
    );

    expect(sentQueries()).toHaveLength(1);
    expect(streams).toHaveLength(1);
    const filters = { ...emptyFilters(), actions: ['login', 'logout'], users: ['alice'] };
    const addr = streams[0].addr as unknown as Record<string, unknown>;
    expect(addr).toEqual({
      scope: LiveChannelScope.DataSource,
      stream: 'audit-uid',
      namespace: 'audit-uid',
      path: tailPath(filters),
      data: filters,
    });
    expect(addr.path).toMatch(/^tail\/[A-Za-z0-9_-]+$/);
    expect(streams[0].buffer?.maxLength).toBe(300);

    const live = responses.find((r) => r.key === 'r1.tail.A');
    expect(live?.data[0].fields[0].values).toEqual(['live-event']);
    expect(live?.data[0].refId).toBe('A');
    expect(responses.some((r) => r.key !== 'r1.tail.A')).toBe(true);
  });

  it('does not tail non-logs or hidden queries', async () => {
    const ds = new DataSource(instanceSettings());
    await lastValueFrom(
      ds.query(
        request([
          query({}, { refId: 'A', queryType: 'stats', live: true }),
          query({}, { refId: 'B', live: true, hide: true }),
        ])
      )
    );
    expect(streams).toHaveLength(0);
  });

  it('reports filters too long for a live channel instead of subscribing', async () => {
    const ds = new DataSource(instanceSettings());
    const many = Array.from({ length: 30 }, (_, i) => `action_number_${i}`);
    const responses = await lastValueFrom(
      ds.query(request([query({ actions: many }, { live: true })])).pipe(toArray())
    );
    expect(streams).toHaveLength(0);
    const err = responses.find((r) => r.state === LoadingState.Error);
    expect(err?.errors?.[0].message).toMatch(/too long/);
    expect(err?.errors?.[0].refId).toBe('A');
  });
});

describe('variables', () => {
  it('maps {"values": [...]} to metric find values from GET values/{field}', async () => {
    const ds = new DataSource(instanceSettings());
    const getResource = jest.spyOn(ds, 'getResource').mockResolvedValue({ values: ['login', 'logout', 7] });
    const result = await ds.metricFindQuery({ refId: 'V', field: 'action', q: 'log', limit: 20 });
    expect(getResource).toHaveBeenCalledWith('values/action', { q: 'log', limit: 20 });
    expect(result).toEqual([{ text: 'login' }, { text: 'logout' }, { text: '7' }]);
  });

  it('interpolates the prefix, defaults the limit and tolerates odd responses', async () => {
    const ds = new DataSource(instanceSettings());
    const getResource = jest.spyOn(ds, 'getResource').mockResolvedValue({ nothing: true });
    const result = await ds.metricFindQuery({ refId: 'V', field: 'user', q: '$user' });
    expect(getResource).toHaveBeenCalledWith('values/user', { q: 'alice', limit: 100 });
    expect(result).toEqual([]);
  });

  it('runs through the custom variable support', async () => {
    const ds = new DataSource(instanceSettings());
    jest.spyOn(ds, 'getResource').mockResolvedValue({ values: ['DE', 'FR'] });
    const variables = ds.variables as unknown as {
      query: (r: DataQueryRequest<AuditVariableQuery>) => Observable<DataQueryResponse>;
      editor: unknown;
    };
    expect(variables.editor).toBeDefined();
    const req = request([]) as unknown as DataQueryRequest<AuditVariableQuery>;
    req.targets = [{ refId: 'V', field: 'country' }];
    const res = await lastValueFrom(variables.query(req));
    expect(res.data).toEqual([{ text: 'DE' }, { text: 'FR' }]);
    expect(ds.getResource).toHaveBeenCalledWith('values/country', { q: '', limit: 100 });
  });

  it('rejects unknown fields', async () => {
    const ds = new DataSource(instanceSettings());
    jest.spyOn(ds, 'getResource').mockResolvedValue({ values: [] });
    await expect(ds.getFieldValues('secret' as never)).rejects.toThrow(/unknown field/);
    expect(ds.getResource).not.toHaveBeenCalled();
  });
});

describe('annotations', () => {
  const ds = new DataSource(instanceSettings());

  it('turns logs rows into annotations', async () => {
    const frame = toDataFrame({
      refId: 'Anno',
      fields: [
        { name: 'time', type: FieldType.time, values: [1700000000000, 1700000060000] },
        { name: 'id', type: FieldType.string, values: ['e1', 'e2'] },
        { name: 'action', type: FieldType.string, values: ['login', 'model_deleted'] },
        { name: 'user', type: FieldType.string, values: ['alice', ''] },
        { name: 'body', type: FieldType.string, values: ['alice logged in', 'deleted app x'] },
      ],
    });
    const anno = { enable: true, name: 'a', iconColor: 'red' } as AnnotationQuery<AuditQuery>;
    const events = await lastValueFrom(ds.annotations!.processEvents!(anno, [frame]));
    expect(events).toEqual([
      { time: 1700000000000, title: 'login', text: 'alice logged in', tags: ['login', 'alice'], id: 'e1' },
      { time: 1700000060000, title: 'model_deleted', text: 'deleted app x', tags: ['model_deleted'], id: 'e2' },
    ]);
  });

  it('gives nothing for frames without a time field', async () => {
    const frame = toDataFrame({ fields: [{ name: 'action', values: ['login'] }] });
    const events = await lastValueFrom(ds.annotations!.processEvents!({} as AnnotationQuery<AuditQuery>, [frame]));
    expect(events).toEqual([]);
  });

  it('always runs a logs query that is not live', () => {
    const prepared = ds.annotations!.prepareAnnotation!({ name: 'a', enable: true, iconColor: 'red' });
    expect(prepared.target).toEqual({
      refId: 'Anno',
      queryType: 'logs',
      filters: emptyFilters(),
      limit: 1000,
      live: false,
    });

    const q = ds.annotations!.prepareQuery!({
      ...prepared,
      target: query({ actions: ['login'] }, { queryType: 'stats', live: true }),
    });
    expect(q?.queryType).toBe('logs');
    expect(q?.live).toBe(false);
    expect(q?.filters?.actions).toEqual(['login']);
  });
});
