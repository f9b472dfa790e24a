import { DataSourceJsonData } from '@grafana/data';
import { DataQuery } from '@grafana/schema';

/** What a query asks the backend for. The Go backend switches on this value. */
export type QueryType = 'logs' | 'details' | 'diff' | 'geomap' | 'timeseries' | 'stats';

/** How timeseries and stats queries split their counts. */
export type GroupBy = 'action' | 'user' | 'app' | 'country' | 'asn';

/** Fields whose distinct values the backend lists at `GET values/{field}`. */
export type ValueField = 'action' | 'user' | 'app' | 'country';

/**
 * Filters shared by every query type. Every array is OR-ed within itself and
 * AND-ed with the others; an empty array or string means "no filter".
 */
export interface AuditFilters {
  actions: string[];
  users: string[];
  apps: string[];
  /** IP addresses or CIDR ranges, v4 or v6. */
  clientIps: string[];
  /** ISO 3166-1 alpha-2 country codes. */
  countries: string[];
  search: string;
  eventId: string;
}

/** The query model, as stored in dashboards and sent to the backend. */
export interface AuditQuery extends DataQuery {
  queryType?: QueryType;
  filters?: AuditFilters;
  /** Maximum number of rows; see DEFAULT_LIMIT and MAX_LIMIT. */
  limit?: number;
  /** Only for timeseries and stats. */
  groupBy?: GroupBy;
  /** Logs only: also stream new events over Grafana Live (see tail.ts). */
  live?: boolean;
}

export const DEFAULT_LIMIT = 1000;
export const MAX_LIMIT = 10000;

export function emptyFilters(): AuditFilters {
  return { actions: [], users: [], apps: [], clientIps: [], countries: [], search: '', eventId: '' };
}

export const DEFAULT_QUERY: Partial<AuditQuery> = {
  queryType: 'logs',
  filters: emptyFilters(),
  limit: DEFAULT_LIMIT,
};

/** The query model of a query variable, answered from `GET values/{field}`. */
export interface AuditVariableQuery extends DataQuery {
  field: ValueField;
  /** Only values starting with / containing this text (the backend decides). */
  q?: string;
  limit?: number;
}

export const DEFAULT_VARIABLE_LIMIT = 100;

export type Engine = 'embedded' | 'clickhouse';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface RetentionRule {
  action: string;
  days: number;
}

export const DEFAULT_RETENTION_DAYS = 365;

/** Options stored in the data source's jsonData (flat keys, read by the Go backend). */
export interface AuditOptions extends DataSourceJsonData {
  engine?: Engine;
  /** Embedded engine: directory of the database files. */
  dataPath?: string;
  clickhouseAddr?: string;
  clickhouseDatabase?: string;
  clickhouseUser?: string;
  clickhouseCluster?: string;
  clickhouseTls?: boolean;
  geoipCityPath?: string;
  geoipAsnPath?: string;
  retentionDays?: number;
  retentionRules?: RetentionRule[];
  logLevel?: LogLevel;
  tenant?: string;
  /** Seconds a query may run (ClickHouse max_execution_time); unset means DEFAULT_QUERY_TIMEOUT. */
  queryTimeout?: number;
  /** Bytes a query may use (ClickHouse max_memory_usage); unset means the engine's own limit. */
  queryMaxMemory?: number;
}

/** What the backend uses when queryTimeout is unset (pkg/plugin/settings.go). */
export const DEFAULT_QUERY_TIMEOUT = 30;
/** The largest queryTimeout the backend's health check accepts: a day. */
export const MAX_QUERY_TIMEOUT = 24 * 3600;

/** Values only the backend ever sees. */
export interface AuditSecureJsonData {
  clickhousePassword?: string;
  ingestToken?: string;
}

export const QUERY_TYPES: Array<{ value: QueryType; label: string; description: string }> = [
  { value: 'logs', label: 'Logs', description: 'Event log, newest first' },
  { value: 'details', label: 'Details', description: 'All fields of one event' },
  { value: 'diff', label: 'Diff', description: 'Field changes of one event (or of the events found)' },
  { value: 'geomap', label: 'Geo map', description: 'Events by client location' },
  { value: 'timeseries', label: 'Time series', description: 'Event counts over time' },
  { value: 'stats', label: 'Stats', description: 'Event counts per group' },
];

export const GROUP_BY_OPTIONS: Array<{ value: GroupBy; label: string }> = [
  { value: 'action', label: 'Action' },
  { value: 'user', label: 'User' },
  { value: 'app', label: 'App' },
  { value: 'country', label: 'Country' },
  { value: 'asn', label: 'ASN' },
];

export const VALUE_FIELDS: Array<{ value: ValueField; label: string }> = [
  { value: 'action', label: 'Action' },
  { value: 'user', label: 'User' },
  { value: 'app', label: 'App' },
  { value: 'country', label: 'Country' },
];

export const LOG_LEVELS: Array<{ value: LogLevel; label: string }> = [
  { value: 'error', label: 'Error' },
  { value: 'warn', label: 'Warn' },
  { value: 'info', label: 'Info' },
  { value: 'debug', label: 'Debug' },
  { value: 'trace', label: 'Trace' },
];
