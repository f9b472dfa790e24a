/* eslint-disable @typescript-eslint/no-deprecated -- Select/MultiSelect: their successors (Combobox, MultiCombobox) are missing from the oldest Grafana this plugin supports */
import React, { ChangeEvent, useState } from 'react';
import { QueryEditorProps, SelectableValue } from '@grafana/data';
import { InlineField, InlineFieldRow, InlineSwitch, Input, Select, TagsInput } from '@grafana/ui';

import type { DataSource } from '../datasource';
import { isIpOrCidr } from '../ip';
import {
  AuditFilters,
  AuditOptions,
  AuditQuery,
  DEFAULT_LIMIT,
  GROUP_BY_OPTIONS,
  GroupBy,
  MAX_LIMIT,
  QUERY_TYPES,
  QueryType,
  ValueField,
  emptyFilters,
} from '../types';
import { FieldValuesSelect } from './FieldValuesSelect';

type Props = QueryEditorProps<DataSource, AuditQuery, AuditOptions>;

const LABEL_WIDTH = 12;

const FILTER_SELECTS: Array<{ key: 'actions' | 'users' | 'apps' | 'countries'; field: ValueField; label: string }> = [
  { key: 'actions', field: 'action', label: 'Actions' },
  { key: 'users', field: 'user', label: 'Users' },
  { key: 'apps', field: 'app', label: 'Apps' },
  { key: 'countries', field: 'country', label: 'Countries' },
];

/** Two-letter country codes typed in by hand are upper-cased (ISO 3166-1). */
function normalizeCountry(value: string): string {
  return /^[a-z]{2}$/i.test(value) ? value.toUpperCase() : value;
}

function limitText(limit: number | undefined): string {
  return limit === undefined || limit === null ? '' : String(limit);
}

/** The limit the text of the limit input stands for. */
function parseLimit(text: string): number | undefined {
  const n = parseInt(text, 10);
  return Number.isFinite(n) && n > 0 ? Math.min(n, MAX_LIMIT) : undefined;
}

export function QueryEditor({ query, onChange, onRunQuery, datasource }: Props) {
  const queryType: QueryType = query.queryType ?? 'logs';
  const filters: AuditFilters = { ...emptyFilters(), ...(query.filters ?? {}) };

  // The limit input keeps its own text (an empty or partial number is fine
  // while typing) and follows the query when it is changed from outside.
  const [limit, setLimit] = useState(limitText(query.limit));
  const [seenLimit, setSeenLimit] = useState(query.limit);
  if (query.limit !== seenLimit) {
    setSeenLimit(query.limit);
    if (parseLimit(limit) !== query.limit) {
      setLimit(limitText(query.limit));
    }
  }

  const change = (next: AuditQuery, run: boolean) => {
    onChange(next);
    if (run) {
      onRunQuery();
    }
  };

  const setFilters = (patch: Partial<AuditFilters>, run: boolean) => {
    change({ ...query, filters: { ...filters, ...patch } }, run);
  };

  const onQueryTypeChange = (v: SelectableValue<QueryType>) => {
    if (v?.value) {
      change({ ...query, queryType: v.value }, true);
    }
  };

  const onLimitChange = (e: ChangeEvent<HTMLInputElement>) => {
    const text = e.currentTarget.value;
    setLimit(text);
    change({ ...query, limit: parseLimit(text) }, false);
  };

  const onGroupByChange = (v: SelectableValue<GroupBy> | null) => {
    change({ ...query, groupBy: v?.value ?? undefined }, true);
  };

  const badIps = filters.clientIps.filter((ip) => !isIpOrCidr(ip));
  const showGroupBy = queryType === 'timeseries' || queryType === 'stats';
  const showEventId = queryType === 'details' || queryType === 'diff';
  const limitNumber = parseInt(limit, 10);
  const limitInvalid = limit !== '' && !(limitNumber > 0 && limitNumber <= MAX_LIMIT);

  return (
    <div>
      <InlineFieldRow>
        <InlineField label="Query type" labelWidth={LABEL_WIDTH}>
          <Select
            inputId="auditlog-query-type"
            aria-label="Query type"
            options={QUERY_TYPES}
            value={queryType}
            onChange={onQueryTypeChange}
            width={20}
          />
        </InlineField>
        {showEventId && (
          <InlineField
            label="Event ID"
            labelWidth={LABEL_WIDTH}
            tooltip={
              queryType === 'details' ? 'Required: the event to show' : 'Optional: one event; else the events found'
            }
            invalid={queryType === 'details' && filters.eventId.trim() === ''}
          >
            <Input
              id="auditlog-event-id"
              aria-label="Event ID"
              value={filters.eventId}
              placeholder={queryType === 'details' ? 'event id' : 'any'}
              onChange={(e: ChangeEvent<HTMLInputElement>) => setFilters({ eventId: e.currentTarget.value }, false)}
              onBlur={onRunQuery}
              width={40}
            />
          </InlineField>
        )}
        {showGroupBy && (
          <InlineField label="Group by" labelWidth={LABEL_WIDTH}>
            <Select
              inputId="auditlog-group-by"
              aria-label="Group by"
              options={GROUP_BY_OPTIONS}
              value={query.groupBy ?? null}
              onChange={onGroupByChange}
              isClearable
              placeholder="none"
              width={16}
            />
          </InlineField>
        )}
        {queryType === 'logs' && (
          <InlineField label="Live tail" labelWidth={LABEL_WIDTH} tooltip="Also stream new events as they arrive">
            <InlineSwitch
              id="auditlog-live"
              aria-label="Live tail"
              value={query.live === true}
              onChange={(e: React.FormEvent<HTMLInputElement>) =>
                change({ ...query, live: e.currentTarget.checked }, true)
              }
            />
          </InlineField>
        )}
      </InlineFieldRow>
      <InlineFieldRow>
        {FILTER_SELECTS.map(({ key, field, label }) => (
          <InlineField key={key} label={label} labelWidth={LABEL_WIDTH} grow>
            <FieldValuesSelect
              datasource={datasource}
              field={field}
              label={label}
              inputId={`auditlog-filter-${key}`}
              values={filters[key]}
              onChange={(values) => setFilters({ [key]: values }, true)}
              normalizeCustom={field === 'country' ? normalizeCountry : undefined}
            />
          </InlineField>
        ))}
      </InlineFieldRow>
      <InlineFieldRow>
        <InlineField
          label="Client IPs"
          labelWidth={LABEL_WIDTH}
          tooltip="IP addresses or CIDR ranges, e.g. 10.0.0.0/8 or 2001:db8::/32"
          invalid={badIps.length > 0}
          error={badIps.length > 0 ? `Not an IP or CIDR: ${badIps.join(', ')}` : undefined}
        >
          <TagsInput
            id="auditlog-client-ips"
            tags={filters.clientIps}
            placeholder="IP or CIDR, Enter to add"
            onChange={(tags: string[]) => setFilters({ clientIps: tags.map((t) => t.trim()).filter(Boolean) }, true)}
            width={40}
          />
        </InlineField>
        <InlineField label="Search" labelWidth={LABEL_WIDTH} grow tooltip="Free text in the event">
          <Input
            id="auditlog-search"
            aria-label="Search"
            value={filters.search}
            placeholder="text"
            onChange={(e: ChangeEvent<HTMLInputElement>) => setFilters({ search: e.currentTarget.value }, false)}
            onBlur={onRunQuery}
          />
        </InlineField>
        <InlineField
          label="Limit"
          labelWidth={LABEL_WIDTH}
          tooltip={`Maximum rows (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})`}
          invalid={limitInvalid}
        >
          <Input
            id="auditlog-limit"
            aria-label="Limit"
            type="number"
            min={1}
            max={MAX_LIMIT}
            value={limit}
            placeholder={String(DEFAULT_LIMIT)}
            onChange={onLimitChange}
            onBlur={onRunQuery}
            width={12}
          />
        </InlineField>
      </InlineFieldRow>
    </div>
  );
}
