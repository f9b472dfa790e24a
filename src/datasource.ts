import {
  AnnotationSupport,
  CoreApp,
  DataQueryRequest,
  DataQueryResponse,
  DataSourceInstanceSettings,
  LiveChannelAddress,
  LiveChannelScope,
  LoadingState,
  MetricFindValue,
  ScopedVars,
} from '@grafana/data';
import { DataSourceWithBackend, StreamingFrameAction, getGrafanaLiveSrv, getTemplateSrv } from '@grafana/runtime';
import { Observable, map, merge, of } from 'rxjs';

import { framesToAnnotations, prepareAnnotation, prepareAnnotationQuery } from './annotations';
import { interpolateQuery, interpolateText, resolveLimit } from './interpolate';
import { tailChannelFits, tailPath } from './tail';
import {
  AuditOptions,
  AuditQuery,
  AuditVariableQuery,
  DEFAULT_QUERY,
  DEFAULT_VARIABLE_LIMIT,
  DEFAULT_LIMIT,
  ValueField,
  emptyFilters,
} from './types';
import { isValueField, valuesFromResponse, valuesPath } from './values';
import { AuditVariableSupport } from './variables';

export class DataSource extends DataSourceWithBackend<AuditQuery, AuditOptions> {
  annotations: AnnotationSupport<AuditQuery> = {
    prepareAnnotation,
    prepareQuery: prepareAnnotationQuery,
    processEvents: (_anno, frames) => of(framesToAnnotations(frames)),
  };

  constructor(instanceSettings: DataSourceInstanceSettings<AuditOptions>) {
    super(instanceSettings);
    this.variables = new AuditVariableSupport(this);
  }

  getDefaultQuery(_: CoreApp): Partial<AuditQuery> {
    return { ...DEFAULT_QUERY, filters: emptyFilters() };
  }

  applyTemplateVariables(query: AuditQuery, scopedVars: ScopedVars): AuditQuery {
    return interpolateQuery(getTemplateSrv(), query, scopedVars);
  }

  /** Hidden queries and details queries without an event id are not run. */
  filterQuery(query: AuditQuery): boolean {
    if (query.hide) {
      return false;
    }
    if (query.queryType === 'details') {
      return (query.filters?.eventId ?? '').trim() !== '';
    }
    return true;
  }

  /**
   * Runs the queries that can run (see filterQuery; newer Grafana versions
   * filter before calling this, older ones did it inside super.query) on the
   * backend; a logs query with `live: true` also subscribes to its live tail
   * channel, whose frames are merged in.
   */
  query(request: DataQueryRequest<AuditQuery>): Observable<DataQueryResponse> {
    const targets = request.targets.filter((t) => this.filterQuery(t));
    if (targets.length === 0) {
      return of({ data: [] });
    }
    const results = super.query({ ...request, targets });
    const live = targets.filter((t) => t.live === true && (t.queryType ?? 'logs') === 'logs');
    if (live.length === 0) {
      return results;
    }
    return merge(results, ...live.map((t) => this.tail(t, request)));
  }

  private tail(target: AuditQuery, request: DataQueryRequest<AuditQuery>): Observable<DataQueryResponse> {
    const query = this.applyTemplateVariables(target, request.scopedVars);
    const filters = query.filters ?? emptyFilters();
    const path = tailPath(filters);
    const key = `${request.requestId}.tail.${target.refId}`;
    if (!tailChannelFits(this.uid, path)) {
      return of({
        key,
        state: LoadingState.Error,
        data: [],
        errors: [
          {
            refId: target.refId,
            message: 'Live tail: the filters are too long for a Grafana Live channel; use fewer filter values',
          },
        ],
      });
    }
    // The channel's middle part is `stream` since Grafana 12 and was
    // `namespace` before: set both, each version reads its own.
    const addr: LiveChannelAddress & { namespace: string } = {
      scope: LiveChannelScope.DataSource,
      stream: this.uid,
      namespace: this.uid,
      path,
      data: filters,
    };
    return getGrafanaLiveSrv()
      .getDataStream({
        key,
        addr,
        buffer: {
          maxLength: query.limit ?? DEFAULT_LIMIT,
          action: StreamingFrameAction.Append,
        },
      })
      .pipe(
        map((res) => {
          // Streaming frames are kept as they are (not copied), only labelled
          // with the query they belong to.
          for (const frame of res.data ?? []) {
            if (frame && !frame.refId) {
              frame.refId = target.refId;
            }
          }
          return res;
        })
      );
  }

  /** Distinct values of a field, from `GET values/{field}?q=&limit=`. */
  async getFieldValues(field: ValueField, q = '', limit: number = DEFAULT_VARIABLE_LIMIT): Promise<string[]> {
    if (!isValueField(field)) {
      throw new Error(`unknown field "${String(field)}"`);
    }
    const res = await this.getResource(valuesPath(field), { q, limit });
    return valuesFromResponse(res);
  }

  /** Values of a query variable; `q` and `limit` may hold template variables. */
  async metricFindQuery(query: AuditVariableQuery, options?: { scopedVars?: ScopedVars }): Promise<MetricFindValue[]> {
    const field: ValueField = isValueField(query?.field) ? query.field : 'action';
    const templateSrv = getTemplateSrv();
    const q = interpolateText(templateSrv, query?.q ?? '', options?.scopedVars);
    const limit = resolveLimit(templateSrv, query?.limit, options?.scopedVars) ?? DEFAULT_VARIABLE_LIMIT;
    const values = await this.getFieldValues(field, q, limit);
    return values.map((text) => ({ text }));
  }
}
