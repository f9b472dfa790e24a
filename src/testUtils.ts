// Test helpers (not part of the plugin bundle).
import { DataSourceInstanceSettings, ScopedVars, TypedVariableModel } from '@grafana/data';
import { TemplateSrv } from '@grafana/runtime';

import { AuditOptions } from './types';

export type VarValue = string | string[];

/**
 * A TemplateSrv that behaves like Grafana's for what the plugin uses:
 * `$name`, `${name}`, `${name:format}` and `[[name]]`; a format function gets
 * the raw value (an array for multi-value variables); without a format, a
 * multi-value variable becomes `{a,b}` (Grafana's glob format); scoped
 * variables win over dashboard ones; unknown variables stay as written.
 */
export class FakeTemplateSrv {
  constructor(public vars: Record<string, VarValue> = {}) {}

  getVariables(): TypedVariableModel[] {
    return Object.keys(this.vars).map((name) => ({ name }) as unknown as TypedVariableModel);
  }

  containsTemplate(target?: string): boolean {
    return !!target && /\$\w+|\$\{\w+|\[\[\w+\]\]/.test(target);
  }

  updateTimeRange(): void {}

  replace(target?: string, scopedVars?: ScopedVars, format?: string | Function): string {
    if (!target) {
      return target ?? '';
    }
    return target.replace(
      /\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]/g,
      (match: string, a?: string, b?: string, fmt?: string, c?: string) => {
        const name = (a ?? b ?? c) as string;
        const scoped = scopedVars?.[name];
        const value: VarValue | undefined = scoped ? (scoped.value as VarValue) : this.vars[name];
        if (value === undefined) {
          return match;
        }
        const f = fmt ?? format;
        if (typeof f === 'function') {
          return f(value);
        }
        if (Array.isArray(value)) {
          if (f === 'csv') {
            return value.join(',');
          }
          if (f === 'json') {
            return JSON.stringify(value);
          }
          return value.length === 1 ? value[0] : `{${value.join(',')}}`;
        }
        return value;
      }
    );
  }

  asTemplateSrv(): TemplateSrv {
    return this as unknown as TemplateSrv;
  }
}

export function instanceSettings(
  overrides: Partial<DataSourceInstanceSettings<AuditOptions>> = {}
): DataSourceInstanceSettings<AuditOptions> {
  return {
    id: 7,
    uid: 'audit-uid',
    type: 'auditlog-events-datasource',
    name: 'Auditlog',
    access: 'proxy',
    readOnly: false,
    jsonData: {},
    meta: {
      id: 'auditlog-events-datasource',
      name: 'Auditlog',
      type: 'datasource',
      info: {},
      module: '',
      baseUrl: '',
    },
    ...overrides,
  } as unknown as DataSourceInstanceSettings<AuditOptions>;
}
