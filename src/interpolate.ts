import { ScopedVars } from '@grafana/data';
import { TemplateSrv } from '@grafana/runtime';

import { AuditFilters, AuditQuery, MAX_LIMIT, emptyFilters } from './types';

// Marks where a multi-value variable stood in an interpolated string: NUL, the
// index of its values, NUL. NUL never occurs in a filter value typed by a user.
const MARK = '\u0000';
const MARK_RE = /\u0000(\d+)\u0000/;

/** Upper bound on the entries one filter entry may expand to. */
const MAX_EXPANSION = 10000;

/**
 * Interpolates one filter entry into one or more values.
 *
 * A multi-value variable gives one entry per value (`$action` with
 * [login, logout] gives ["login", "logout"]); text around it is kept on each
 * (`app-$env` gives ["app-a", "app-b"]), and several multi-value variables in
 * one entry give every combination. Values are never split or joined, so
 * commas, pipes and braces in them survive. Empty results are dropped.
 */
export function expandEntry(templateSrv: TemplateSrv, entry: string, scopedVars?: ScopedVars): string[] {
  const groups: string[][] = [];
  const replaced = templateSrv.replace(entry, scopedVars, (value: unknown) => {
    if (Array.isArray(value)) {
      groups.push(value.map((v) => String(v)));
      return `${MARK}${groups.length - 1}${MARK}`;
    }
    return value === undefined || value === null ? '' : String(value);
  });

  let results = [''];
  let rest = replaced;
  for (;;) {
    const m = MARK_RE.exec(rest);
    const literal = m ? rest.slice(0, m.index) : rest;
    results = results.map((r) => r + literal);
    if (!m) {
      break;
    }
    const values = groups[Number(m[1])] ?? [];
    const next: string[] = [];
    for (const r of results) {
      for (const v of values) {
        if (next.length < MAX_EXPANSION) {
          next.push(r + v);
        }
      }
    }
    results = next;
    rest = rest.slice(m.index + m[0].length);
  }
  return results.filter((r) => r !== '');
}

/**
 * The value that stands for "any": the custom "All" value of the provisioned
 * dashboards' multi-value variables. A list holding it filters nothing.
 */
export const ALL_VALUE = '*';

/**
 * Interpolates every entry of a filter list, keeping order and dropping
 * duplicates; a list that holds ALL_VALUE becomes empty (no filter).
 */
export function expandList(templateSrv: TemplateSrv, entries: unknown, scopedVars?: ScopedVars): string[] {
  if (!Array.isArray(entries)) {
    return [];
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (const entry of entries) {
    if (typeof entry !== 'string' && typeof entry !== 'number') {
      continue;
    }
    for (const v of expandEntry(templateSrv, String(entry), scopedVars)) {
      if (v.trim() === ALL_VALUE) {
        return [];
      }
      if (!seen.has(v)) {
        seen.add(v);
        out.push(v);
      }
    }
  }
  return out;
}

/** Interpolates a free-text value; multi-value variables are joined with a space. */
export function interpolateText(templateSrv: TemplateSrv, text: unknown, scopedVars?: ScopedVars): string {
  if (typeof text !== 'string' || text === '') {
    return '';
  }
  return templateSrv.replace(text, scopedVars, (value: unknown) =>
    Array.isArray(value) ? value.join(' ') : value === undefined || value === null ? '' : String(value)
  );
}

/**
 * A limit within [1, MAX_LIMIT]; a variable such as "$limit" is interpolated
 * first. Without a usable limit the result is undefined: the backend then
 * applies the default of the query type.
 */
export function resolveLimit(templateSrv: TemplateSrv, limit: unknown, scopedVars?: ScopedVars): number | undefined {
  let n: number;
  if (typeof limit === 'number') {
    n = limit;
  } else if (typeof limit === 'string' && limit.trim() !== '') {
    n = Number(interpolateText(templateSrv, limit.trim(), scopedVars));
  } else {
    return undefined;
  }
  if (!Number.isFinite(n) || n < 1) {
    return undefined;
  }
  return Math.min(Math.floor(n), MAX_LIMIT);
}

export function interpolateFilters(
  templateSrv: TemplateSrv,
  filters: Partial<AuditFilters> | undefined,
  scopedVars?: ScopedVars
): AuditFilters {
  const f = { ...emptyFilters(), ...(filters ?? {}) };
  return {
    actions: expandList(templateSrv, f.actions, scopedVars),
    users: expandList(templateSrv, f.users, scopedVars),
    apps: expandList(templateSrv, f.apps, scopedVars),
    clientIps: expandList(templateSrv, f.clientIps, scopedVars),
    countries: expandList(templateSrv, f.countries, scopedVars),
    search: interpolateText(templateSrv, f.search, scopedVars),
    eventId: interpolateText(templateSrv, f.eventId, scopedVars).trim(),
  };
}

/** The query as the backend gets it: complete filters, variables replaced, limit bounded or absent. */
export function interpolateQuery(templateSrv: TemplateSrv, query: AuditQuery, scopedVars?: ScopedVars): AuditQuery {
  const { limit, ...rest } = query;
  const out: AuditQuery = {
    ...rest,
    queryType: query.queryType ?? 'logs',
    filters: interpolateFilters(templateSrv, query.filters, scopedVars),
  };
  const resolved = resolveLimit(templateSrv, limit, scopedVars);
  if (resolved !== undefined) {
    out.limit = resolved;
  }
  return out;
}
