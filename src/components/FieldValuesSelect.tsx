/* eslint-disable @typescript-eslint/no-deprecated -- Select/MultiSelect: their successors (Combobox, MultiCombobox) are missing from the oldest Grafana this plugin supports */
import React, { useCallback, useEffect, useRef, useState } from 'react';
import { SelectableValue } from '@grafana/data';
import { getTemplateSrv } from '@grafana/runtime';
import { MultiSelect } from '@grafana/ui';

import type { DataSource } from '../datasource';
import { ValueField } from '../types';
import { valuesFromResponse, valuesPath } from '../values';

/** How many suggestions one request to `values/{field}` asks for. */
export const SUGGESTION_LIMIT = 50;
const DEBOUNCE_MS = 250;

interface Props {
  datasource: Pick<DataSource, 'getResource'>;
  field: ValueField;
  values: string[];
  onChange: (values: string[]) => void;
  inputId?: string;
  label: string;
  placeholder?: string;
  width?: number;
  /** Applied to values the user types (not to picked suggestions). */
  normalizeCustom?: (value: string) => string;
}

function toOption(value: string): SelectableValue<string> {
  return { label: value, value };
}

function variableOptions(): Array<SelectableValue<string>> {
  try {
    return getTemplateSrv()
      .getVariables()
      .map((v) => ({ label: `$${v.name}`, value: `$${v.name}`, description: 'Dashboard variable' }));
  } catch {
    return [];
  }
}

/**
 * A multi-select of one filter field. Suggestions come from the backend
 * (`datasource.getResource('values/' + field, {q, limit: 50})`) when the menu
 * opens and, debounced, while typing; any other value may be typed in.
 */
export function FieldValuesSelect({
  datasource,
  field,
  values,
  onChange,
  inputId,
  label,
  placeholder,
  width,
  normalizeCustom,
}: Props) {
  const [options, setOptions] = useState<Array<SelectableValue<string>>>([]);
  const [loading, setLoading] = useState(false);
  const latest = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(
    () => () => {
      latest.current++;
      if (timer.current) {
        clearTimeout(timer.current);
      }
    },
    []
  );

  const load = useCallback(
    (q: string) => {
      const id = ++latest.current;
      setLoading(true);
      datasource
        .getResource(valuesPath(field), { q, limit: SUGGESTION_LIMIT })
        .then((res: unknown) => {
          if (id === latest.current) {
            setOptions([...variableOptions(), ...valuesFromResponse(res).map(toOption)]);
          }
        })
        .catch(() => {
          if (id === latest.current) {
            setOptions(variableOptions());
          }
        })
        .finally(() => {
          if (id === latest.current) {
            setLoading(false);
          }
        });
    },
    [datasource, field]
  );

  const onInputChange = (q: string, meta?: { action?: string }) => {
    if (meta?.action !== undefined && meta.action !== 'input-change') {
      return;
    }
    if (timer.current) {
      clearTimeout(timer.current);
    }
    timer.current = setTimeout(() => load(q), DEBOUNCE_MS);
  };

  const onSelect = (items: Array<SelectableValue<string>>) => {
    const next = (items ?? [])
      .map((item) => {
        const v = String(item.value ?? '');
        return item.__isNew__ && normalizeCustom ? normalizeCustom(v) : v;
      })
      .filter((v) => v !== '');
    onChange(Array.from(new Set(next)));
  };

  return (
    <MultiSelect<string>
      inputId={inputId}
      aria-label={label}
      options={options}
      value={values.map(toOption)}
      onChange={onSelect}
      onOpenMenu={() => load('')}
      onInputChange={onInputChange}
      isLoading={loading}
      allowCustomValue
      isClearable
      placeholder={placeholder ?? 'any'}
      width={width}
    />
  );
}
