/* eslint-disable @typescript-eslint/no-deprecated -- Select/MultiSelect: their successors (Combobox, MultiCombobox) are missing from the oldest Grafana this plugin supports */
import React, { ChangeEvent, useState } from 'react';
import { QueryEditorProps, SelectableValue } from '@grafana/data';
import { InlineField, InlineFieldRow, Input, Select } from '@grafana/ui';

import type { DataSource } from '../datasource';
import {
  AuditOptions,
  AuditQuery,
  AuditVariableQuery,
  DEFAULT_VARIABLE_LIMIT,
  VALUE_FIELDS,
  ValueField,
} from '../types';

export type VariableQueryEditorProps = QueryEditorProps<DataSource, AuditQuery, AuditOptions, AuditVariableQuery>;

/** A stored variable query, whatever shape it was saved in. */
export function normalizeVariableQuery(query: Partial<AuditVariableQuery> | string | undefined): AuditVariableQuery {
  const q = typeof query === 'object' && query !== null ? query : {};
  const field = VALUE_FIELDS.some((f) => f.value === q.field) ? (q.field as ValueField) : 'action';
  return { ...q, refId: q.refId || 'AuditVariableQuery', field };
}

function limitText(limit: number | undefined): string {
  return limit === undefined ? '' : String(limit);
}

export function VariableQueryEditor({ query: rawQuery, onChange }: VariableQueryEditorProps) {
  const query = normalizeVariableQuery(rawQuery);
  // The inputs keep their own text until blur and follow the query when it
  // is changed from outside.
  const [q, setQ] = useState(query.q ?? '');
  const [limit, setLimit] = useState(limitText(query.limit));
  const [seen, setSeen] = useState({ q: query.q, limit: query.limit });
  if (seen.q !== query.q || seen.limit !== query.limit) {
    setSeen({ q: query.q, limit: query.limit });
    setQ(query.q ?? '');
    setLimit(limitText(query.limit));
  }

  const onFieldChange = (v: SelectableValue<ValueField>) => {
    if (v?.value) {
      onChange({ ...query, field: v.value });
    }
  };

  const onQBlur = () => {
    if (q !== (query.q ?? '')) {
      onChange({ ...query, q: q === '' ? undefined : q });
    }
  };

  const onLimitBlur = () => {
    const n = parseInt(limit, 10);
    const next = Number.isFinite(n) && n > 0 ? n : undefined;
    if (next !== query.limit) {
      onChange({ ...query, limit: next });
    }
  };

  return (
    <InlineFieldRow>
      <InlineField label="Field" labelWidth={10} tooltip="Event field whose distinct values the variable lists">
        <Select
          inputId="auditlog-variable-field"
          aria-label="Field"
          options={VALUE_FIELDS}
          value={query.field}
          onChange={onFieldChange}
          width={16}
        />
      </InlineField>
      <InlineField label="Filter" labelWidth={10} tooltip="Only values matching this text (optional)">
        <Input
          id="auditlog-variable-q"
          aria-label="Filter"
          value={q}
          placeholder="prefix"
          onChange={(e: ChangeEvent<HTMLInputElement>) => setQ(e.currentTarget.value)}
          onBlur={onQBlur}
          width={20}
        />
      </InlineField>
      <InlineField
        label="Limit"
        labelWidth={10}
        tooltip={`Maximum number of values (default ${DEFAULT_VARIABLE_LIMIT})`}
      >
        <Input
          id="auditlog-variable-limit"
          aria-label="Limit"
          type="number"
          min={1}
          value={limit}
          placeholder={String(DEFAULT_VARIABLE_LIMIT)}
          onChange={(e: ChangeEvent<HTMLInputElement>) => setLimit(e.currentTarget.value)}
          onBlur={onLimitBlur}
          width={12}
        />
      </InlineField>
    </InlineFieldRow>
  );
}
