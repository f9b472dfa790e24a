import { CustomVariableSupport, DataQueryRequest, DataQueryResponse } from '@grafana/data';
import { Observable, from, map } from 'rxjs';

import { VariableQueryEditor } from './components/VariableQueryEditor';
import type { DataSource } from './datasource';
import { AuditOptions, AuditQuery, AuditVariableQuery } from './types';

/**
 * Query variables: `{field, q?, limit?}` lists the distinct values of an event
 * field through the backend resource `GET values/{field}?q=&limit=`.
 */
export class AuditVariableSupport extends CustomVariableSupport<
  DataSource,
  AuditVariableQuery,
  AuditQuery,
  AuditOptions
> {
  editor = VariableQueryEditor;

  constructor(private readonly datasource: DataSource) {
    super();
  }

  query(request: DataQueryRequest<AuditVariableQuery>): Observable<DataQueryResponse> {
    const target = request.targets[0];
    return from(this.datasource.metricFindQuery(target, { scopedVars: request.scopedVars })).pipe(
      map((data) => ({ data }))
    );
  }
}
