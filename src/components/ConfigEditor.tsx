/* eslint-disable @typescript-eslint/no-deprecated -- Select/MultiSelect: their successors (Combobox, MultiCombobox) are missing from the oldest Grafana this plugin supports */
import React, { ChangeEvent, useState } from 'react';
import { DataSourcePluginOptionsEditorProps, SelectableValue } from '@grafana/data';
import {
  Button,
  FieldSet,
  IconButton,
  InlineField,
  InlineFieldRow,
  InlineSwitch,
  Input,
  RadioButtonGroup,
  SecretInput,
  Select,
} from '@grafana/ui';

import {
  AuditOptions,
  AuditSecureJsonData,
  DEFAULT_QUERY_TIMEOUT,
  DEFAULT_RETENTION_DAYS,
  Engine,
  LOG_LEVELS,
  LogLevel,
  MAX_QUERY_TIMEOUT,
  RetentionRule,
} from '../types';

export type ConfigEditorProps = DataSourcePluginOptionsEditorProps<AuditOptions, AuditSecureJsonData>;

const LABEL_WIDTH = 24;
const INPUT_WIDTH = 48;

const ENGINES: Array<SelectableValue<Engine>> = [
  { label: 'Embedded', value: 'embedded', description: 'ClickHouse engine inside the plugin, data on local disk' },
  { label: 'ClickHouse server', value: 'clickhouse', description: 'An external ClickHouse server or cluster' },
];

/** A positive whole number, or undefined for an empty or invalid input. */
function parseDays(text: string): number | undefined {
  const n = parseInt(text, 10);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** A parsed limit: no value and no error means the field is empty (unset). */
interface Parsed {
  value?: number;
  error?: string;
}

/** Seconds, within the range the backend's health check accepts. */
function parseTimeout(text: string): Parsed {
  const t = text.trim();
  if (t === '') {
    return {};
  }
  const n = Number(t);
  if (!Number.isFinite(n)) {
    return { error: 'Enter a number of seconds' };
  }
  // 0 would mean "the default" to the backend, but an empty field says that
  // more plainly; a fraction of a second fails the health check.
  if (n < 1) {
    return { error: `The query timeout must be at least 1 second; leave it empty for ${DEFAULT_QUERY_TIMEOUT}` };
  }
  if (n > MAX_QUERY_TIMEOUT) {
    return { error: `The query timeout must be at most ${MAX_QUERY_TIMEOUT} seconds (a day)` };
  }
  return { value: n };
}

// The same units as the CLI's --query-max-memory (pkg/cmd/auditlog/flags.go),
// so a size copied from one works in the other: IEC units and dd's single
// letters are binary, SI units decimal.
const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 2 ** 10,
  kib: 2 ** 10,
  kb: 1e3,
  m: 2 ** 20,
  mib: 2 ** 20,
  mb: 1e6,
  g: 2 ** 30,
  gib: 2 ** 30,
  gb: 1e9,
};

const SIZE_EXAMPLE = '512MiB, 2GB or 4096 (bytes)';

/** A byte count written like 512MiB, 2GB or 4096. */
function parseSize(text: string): Parsed {
  const t = text.trim();
  if (t === '') {
    return {};
  }
  const m = /^(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)$/i.exec(t);
  const mult = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || mult === undefined) {
    return { error: `Not a size; write it like ${SIZE_EXAMPLE}` };
  }
  // Rounded, not truncated: 8.2MB is 8199999.999999999 in floating point.
  const n = Math.round(parseFloat(m[1]) * mult);
  if (n <= 0) {
    return { error: 'The memory limit must be more than 0 bytes; leave it empty for no limit' };
  }
  // jsonData travels as JSON numbers, exact only up to 2^53.
  if (n > Number.MAX_SAFE_INTEGER) {
    return { error: 'The memory limit is too large' };
  }
  return { value: n };
}

// Largest first, so the shortest exact form wins; only whole multiples, so
// what is shown parses back to the very same byte count.
const SIZE_DISPLAY: Array<[string, number]> = [
  ['GiB', 2 ** 30],
  ['GB', 1e9],
  ['MiB', 2 ** 20],
  ['MB', 1e6],
  ['KiB', 2 ** 10],
  ['kB', 1e3],
];

function formatSize(bytes: number): string {
  for (const [unit, size] of SIZE_DISPLAY) {
    if (bytes >= size && bytes % size === 0) {
      return `${bytes / size}${unit}`;
    }
  }
  return `${bytes}B`;
}

export function ConfigEditor({ options, onOptionsChange }: ConfigEditorProps) {
  const jsonData: AuditOptions = options.jsonData ?? {};
  const secureJsonFields = options.secureJsonFields ?? {};
  const secureJsonData: AuditSecureJsonData = options.secureJsonData ?? {};
  const engine: Engine = jsonData.engine ?? 'embedded';
  const rules: RetentionRule[] = jsonData.retentionRules ?? [];

  // What the user typed into a limit field, while it differs from the
  // stored value's own form (null: show the stored value). Kept because an
  // invalid entry is not stored, yet must stay visible beside its message.
  const [timeoutDraft, setTimeoutDraft] = useState<string | null>(null);
  const [memoryDraft, setMemoryDraft] = useState<string | null>(null);
  const timeoutText = timeoutDraft ?? (jsonData.queryTimeout ? String(jsonData.queryTimeout) : '');
  const memoryText = memoryDraft ?? (jsonData.queryMaxMemory ? formatSize(jsonData.queryMaxMemory) : '');
  const timeout = parseTimeout(timeoutText);
  const memory = parseSize(memoryText);

  const setJsonData = (patch: Partial<AuditOptions>) => {
    onOptionsChange({ ...options, jsonData: { ...jsonData, ...patch } });
  };

  const textProps = (key: keyof AuditOptions) => ({
    value: (jsonData[key] as string | undefined) ?? '',
    onChange: (e: ChangeEvent<HTMLInputElement>) => setJsonData({ [key]: e.currentTarget.value }),
  });

  const setSecret = (key: keyof AuditSecureJsonData, value: string) => {
    onOptionsChange({ ...options, secureJsonData: { ...secureJsonData, [key]: value } });
  };

  const resetSecret = (key: keyof AuditSecureJsonData) => {
    onOptionsChange({
      ...options,
      secureJsonFields: { ...secureJsonFields, [key]: false },
      secureJsonData: { ...secureJsonData, [key]: '' },
    });
  };

  const setRules = (next: RetentionRule[]) => setJsonData({ retentionRules: next });
  const updateRule = (i: number, patch: Partial<RetentionRule>) =>
    setRules(rules.map((r, j) => (j === i ? { ...r, ...patch } : r)));

  return (
    <>
      <FieldSet label="Storage">
        <InlineField label="Engine" labelWidth={LABEL_WIDTH}>
          <RadioButtonGroup<Engine> options={ENGINES} value={engine} onChange={(v) => setJsonData({ engine: v })} />
        </InlineField>
        {engine === 'embedded' && (
          <InlineField
            label="Data path"
            labelWidth={LABEL_WIDTH}
            tooltip="Directory of the embedded database, on the Grafana server"
          >
            <Input
              id="auditlog-data-path"
              aria-label="Data path"
              placeholder="/var/lib/grafana/auditlog"
              width={INPUT_WIDTH}
              {...textProps('dataPath')}
            />
          </InlineField>
        )}
        {engine === 'clickhouse' && (
          <>
            <InlineField label="Address" labelWidth={LABEL_WIDTH} tooltip="host:port of the native protocol">
              <Input
                id="auditlog-clickhouse-addr"
                aria-label="ClickHouse address"
                placeholder="clickhouse:9000"
                width={INPUT_WIDTH}
                {...textProps('clickhouseAddr')}
              />
            </InlineField>
            <InlineField label="Database" labelWidth={LABEL_WIDTH}>
              <Input
                id="auditlog-clickhouse-database"
                aria-label="ClickHouse database"
                placeholder="auditlog"
                width={INPUT_WIDTH}
                {...textProps('clickhouseDatabase')}
              />
            </InlineField>
            <InlineField label="User" labelWidth={LABEL_WIDTH}>
              <Input
                id="auditlog-clickhouse-user"
                aria-label="ClickHouse user"
                placeholder="default"
                width={INPUT_WIDTH}
                {...textProps('clickhouseUser')}
              />
            </InlineField>
            <InlineField label="Password" labelWidth={LABEL_WIDTH}>
              <SecretInput
                id="auditlog-clickhouse-password"
                aria-label="ClickHouse password"
                isConfigured={Boolean(secureJsonFields.clickhousePassword)}
                value={secureJsonData.clickhousePassword ?? ''}
                placeholder="password"
                width={INPUT_WIDTH}
                onReset={() => resetSecret('clickhousePassword')}
                onChange={(e: ChangeEvent<HTMLInputElement>) => setSecret('clickhousePassword', e.currentTarget.value)}
              />
            </InlineField>
            <InlineField
              label="Cluster"
              labelWidth={LABEL_WIDTH}
              tooltip="ON CLUSTER name for the schema; empty for a single server"
            >
              <Input
                id="auditlog-clickhouse-cluster"
                aria-label="ClickHouse cluster"
                placeholder="none"
                width={INPUT_WIDTH}
                {...textProps('clickhouseCluster')}
              />
            </InlineField>
            <InlineField label="TLS" labelWidth={LABEL_WIDTH}>
              <InlineSwitch
                id="auditlog-clickhouse-tls"
                aria-label="ClickHouse TLS"
                value={jsonData.clickhouseTls === true}
                onChange={(e: React.FormEvent<HTMLInputElement>) =>
                  setJsonData({ clickhouseTls: e.currentTarget.checked })
                }
              />
            </InlineField>
          </>
        )}
      </FieldSet>

      <FieldSet label="Ingest">
        <InlineField
          label="Ingest token"
          labelWidth={LABEL_WIDTH}
          tooltip="Bearer token that senders must present to push events"
        >
          <SecretInput
            id="auditlog-ingest-token"
            aria-label="Ingest token"
            isConfigured={Boolean(secureJsonFields.ingestToken)}
            value={secureJsonData.ingestToken ?? ''}
            placeholder="token"
            width={INPUT_WIDTH}
            onReset={() => resetSecret('ingestToken')}
            onChange={(e: ChangeEvent<HTMLInputElement>) => setSecret('ingestToken', e.currentTarget.value)}
          />
        </InlineField>
        <InlineField label="Tenant" labelWidth={LABEL_WIDTH} tooltip="Tenant of the events this data source shows">
          <Input
            id="auditlog-tenant"
            aria-label="Tenant"
            placeholder="default"
            width={INPUT_WIDTH}
            {...textProps('tenant')}
          />
        </InlineField>
      </FieldSet>

      <FieldSet label="GeoIP">
        <InlineField label="City database" labelWidth={LABEL_WIDTH} tooltip="Path of a GeoLite2/GeoIP2 City .mmdb file">
          <Input
            id="auditlog-geoip-city"
            aria-label="GeoIP City path"
            placeholder="/usr/share/GeoIP/GeoLite2-City.mmdb"
            width={INPUT_WIDTH}
            {...textProps('geoipCityPath')}
          />
        </InlineField>
        <InlineField label="ASN database" labelWidth={LABEL_WIDTH} tooltip="Path of a GeoLite2/GeoIP2 ASN .mmdb file">
          <Input
            id="auditlog-geoip-asn"
            aria-label="GeoIP ASN path"
            placeholder="/usr/share/GeoIP/GeoLite2-ASN.mmdb"
            width={INPUT_WIDTH}
            {...textProps('geoipAsnPath')}
          />
        </InlineField>
      </FieldSet>

      <FieldSet label="Retention">
        <InlineField
          label="Keep events (days)"
          labelWidth={LABEL_WIDTH}
          tooltip={`Days to keep events; empty means ${DEFAULT_RETENTION_DAYS}`}
        >
          <Input
            id="auditlog-retention-days"
            aria-label="Retention days"
            type="number"
            min={1}
            width={16}
            placeholder={String(DEFAULT_RETENTION_DAYS)}
            value={jsonData.retentionDays ?? ''}
            onChange={(e: ChangeEvent<HTMLInputElement>) =>
              setJsonData({ retentionDays: parseDays(e.currentTarget.value) })
            }
          />
        </InlineField>
        {rules.map((rule, i) => (
          <InlineFieldRow key={i}>
            <InlineField label={i === 0 ? 'Per action' : ''} labelWidth={LABEL_WIDTH}>
              <Input
                aria-label={`Rule ${i + 1} action`}
                placeholder="action, e.g. login"
                width={28}
                value={rule.action}
                onChange={(e: ChangeEvent<HTMLInputElement>) => updateRule(i, { action: e.currentTarget.value })}
              />
            </InlineField>
            <InlineField label="days">
              <Input
                aria-label={`Rule ${i + 1} days`}
                type="number"
                min={1}
                width={12}
                value={rule.days > 0 ? rule.days : ''}
                onChange={(e: ChangeEvent<HTMLInputElement>) =>
                  updateRule(i, { days: parseDays(e.currentTarget.value) ?? 0 })
                }
              />
            </InlineField>
            <IconButton
              name="trash-alt"
              tooltip={`Remove rule ${i + 1}`}
              onClick={() => setRules(rules.filter((_, j) => j !== i))}
            />
          </InlineFieldRow>
        ))}
        <InlineField label={rules.length === 0 ? 'Per action' : ''} labelWidth={LABEL_WIDTH}>
          <Button
            variant="secondary"
            icon="plus"
            size="sm"
            onClick={() => setRules([...rules, { action: '', days: jsonData.retentionDays ?? DEFAULT_RETENTION_DAYS }])}
          >
            Add rule
          </Button>
        </InlineField>
      </FieldSet>

      <FieldSet label="Query limits">
        <InlineField
          label="Query timeout (seconds)"
          labelWidth={LABEL_WIDTH}
          tooltip={
            `Longest a query may run; empty means ${DEFAULT_QUERY_TIMEOUT} seconds. ` +
            'Passed to ClickHouse with every read as max_execution_time, so a dashboard panel whose query ' +
            'runs longer gets a clear error instead of tying up the engine.'
          }
          invalid={Boolean(timeout.error)}
          error={timeout.error}
        >
          <Input
            id="auditlog-query-timeout"
            aria-label="Query timeout"
            type="number"
            min={1}
            max={MAX_QUERY_TIMEOUT}
            width={16}
            placeholder={String(DEFAULT_QUERY_TIMEOUT)}
            value={timeoutText}
            onChange={(e: ChangeEvent<HTMLInputElement>) => {
              const text = e.currentTarget.value;
              setTimeoutDraft(text);
              // Like the retention days, an invalid entry leaves the setting
              // unset rather than keeping an earlier value the field no
              // longer shows; the message says why.
              setJsonData({ queryTimeout: parseTimeout(text).value });
            }}
            onBlur={() => !timeout.error && setTimeoutDraft(null)}
          />
        </InlineField>
        <InlineField
          label="Query memory limit"
          labelWidth={LABEL_WIDTH}
          tooltip={
            `Most memory a query may use, like ${SIZE_EXAMPLE}; empty means the engine's own limit. ` +
            'Passed to ClickHouse with every read as max_memory_usage, so a dashboard panel whose query ' +
            'needs more gets a clear error instead of taking the engine down.'
          }
          invalid={Boolean(memory.error)}
          error={memory.error}
        >
          <Input
            id="auditlog-query-max-memory"
            aria-label="Query memory limit"
            placeholder="no limit"
            width={16}
            value={memoryText}
            onChange={(e: ChangeEvent<HTMLInputElement>) => {
              const text = e.currentTarget.value;
              setMemoryDraft(text);
              setJsonData({ queryMaxMemory: parseSize(text).value });
            }}
            // Once accepted, the entry is shown in the stored value's unit,
            // so "512" visibly becomes "512B" rather than 512 MiB.
            onBlur={() => !memory.error && setMemoryDraft(null)}
          />
        </InlineField>
      </FieldSet>

      <FieldSet label="Diagnostics">
        <InlineField label="Log level" labelWidth={LABEL_WIDTH}>
          <Select<LogLevel>
            inputId="auditlog-log-level"
            aria-label="Log level"
            options={LOG_LEVELS}
            value={jsonData.logLevel ?? 'info'}
            onChange={(v) => v?.value && setJsonData({ logLevel: v.value })}
            width={16}
          />
        </InlineField>
      </FieldSet>
    </>
  );
}
