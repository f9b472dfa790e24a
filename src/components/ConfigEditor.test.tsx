import React, { useState } from 'react';
import { DataSourceSettings } from '@grafana/data';
import { fireEvent, render, screen } from '@testing-library/react';

import { AuditOptions, AuditSecureJsonData } from '../types';
import { ConfigEditor } from './ConfigEditor';

type Options = DataSourceSettings<AuditOptions, AuditSecureJsonData>;

function settings(jsonData: AuditOptions = {}, extra: Partial<Options> = {}): Options {
  return {
    id: 1,
    uid: 'audit-uid',
    orgId: 1,
    name: 'Auditlog',
    type: 'auditlog-events-datasource',
    typeName: 'Auditlog',
    typeLogoUrl: '',
    access: 'proxy',
    url: '',
    user: '',
    basicAuth: false,
    basicAuthUser: '',
    isDefault: false,
    withCredentials: false,
    readOnly: false,
    jsonData,
    secureJsonFields: {},
    ...extra,
  } as Options;
}

/** Renders the editor the way Grafana does: options held by the parent. */
function setup(initial: Options) {
  const onChange = jest.fn();
  function Harness() {
    const [options, setOptions] = useState(initial);
    return (
      <ConfigEditor
        options={options}
        onOptionsChange={(o) => {
          onChange(o);
          setOptions(o);
        }}
      />
    );
  }
  render(<Harness />);
  const last = (): Options => onChange.mock.calls[onChange.mock.calls.length - 1][0];
  return { onChange, last };
}

describe('ConfigEditor', () => {
  it('shows the embedded engine fields by default', () => {
    setup(settings());
    expect(screen.getByLabelText('Data path')).toBeInTheDocument();
    expect(screen.queryByLabelText('ClickHouse address')).not.toBeInTheDocument();
    expect(screen.queryByLabelText('ClickHouse password')).not.toBeInTheDocument();
  });

  it('switches to the ClickHouse server fields', () => {
    const { last } = setup(settings({ dataPath: '/data' }));
    fireEvent.click(screen.getByLabelText('ClickHouse server'));
    expect(last().jsonData).toEqual({ dataPath: '/data', engine: 'clickhouse' });
    expect(screen.queryByLabelText('Data path')).not.toBeInTheDocument();
    for (const label of [
      'ClickHouse address',
      'ClickHouse database',
      'ClickHouse user',
      'ClickHouse cluster',
      'ClickHouse TLS',
      'ClickHouse password',
    ]) {
      expect(screen.getByLabelText(label)).toBeInTheDocument();
    }

    fireEvent.click(screen.getByLabelText('Embedded'));
    expect(last().jsonData.engine).toBe('embedded');
    expect(screen.getByLabelText('Data path')).toBeInTheDocument();
  });

  it('writes the ClickHouse settings into jsonData', () => {
    const { last } = setup(settings({ engine: 'clickhouse' }));
    fireEvent.change(screen.getByLabelText('ClickHouse address'), { target: { value: 'ch:9000' } });
    fireEvent.change(screen.getByLabelText('ClickHouse database'), { target: { value: 'audit' } });
    fireEvent.click(screen.getByLabelText('ClickHouse TLS'));
    expect(last().jsonData).toEqual({
      engine: 'clickhouse',
      clickhouseAddr: 'ch:9000',
      clickhouseDatabase: 'audit',
      clickhouseTls: true,
    });
  });

  it('sets a new password in secureJsonData only', () => {
    const { last } = setup(settings({ engine: 'clickhouse' }));
    fireEvent.change(screen.getByLabelText('ClickHouse password'), { target: { value: 's3cret' } });
    expect(last().secureJsonData).toEqual({ clickhousePassword: 's3cret' });
    expect(last().jsonData).toEqual({ engine: 'clickhouse' });
  });

  it('resets a configured password', () => {
    const { last } = setup(
      settings({ engine: 'clickhouse' }, { secureJsonFields: { clickhousePassword: true, ingestToken: true } })
    );
    // both secrets are configured: the password's reset button comes first
    const resets = screen.getAllByRole('button', { name: /reset/i });
    expect(resets).toHaveLength(2);
    fireEvent.click(resets[0]);
    expect(last().secureJsonFields).toEqual({ clickhousePassword: false, ingestToken: true });
    expect(last().secureJsonData).toEqual({ clickhousePassword: '' });
    // it can be typed again
    fireEvent.change(screen.getByLabelText('ClickHouse password'), { target: { value: 'new' } });
    expect(last().secureJsonData).toEqual({ clickhousePassword: 'new' });
  });

  it('resets a configured ingest token', () => {
    const { last } = setup(settings({}, { secureJsonFields: { ingestToken: true } }));
    fireEvent.click(screen.getByRole('button', { name: /reset/i }));
    expect(last().secureJsonFields).toEqual({ ingestToken: false });
    expect(last().secureJsonData).toEqual({ ingestToken: '' });
  });

  it('sets GeoIP paths, tenant and retention days', () => {
    const { last } = setup(settings());
    fireEvent.change(screen.getByLabelText('GeoIP City path'), { target: { value: '/geo/city.mmdb' } });
    fireEvent.change(screen.getByLabelText('GeoIP ASN path'), { target: { value: '/geo/asn.mmdb' } });
    fireEvent.change(screen.getByLabelText('Tenant'), { target: { value: 'acme' } });
    expect(screen.getByLabelText('Retention days')).toHaveAttribute('placeholder', '365');
    fireEvent.change(screen.getByLabelText('Retention days'), { target: { value: '90' } });
    expect(last().jsonData).toEqual({
      geoipCityPath: '/geo/city.mmdb',
      geoipAsnPath: '/geo/asn.mmdb',
      tenant: 'acme',
      retentionDays: 90,
    });
  });

  it('adds, edits and removes retention rules', () => {
    const { last } = setup(settings({ retentionDays: 400 }));
    fireEvent.click(screen.getByRole('button', { name: /add rule/i }));
    expect(last().jsonData.retentionRules).toEqual([{ action: '', days: 400 }]);

    fireEvent.change(screen.getByLabelText('Rule 1 action'), { target: { value: 'login' } });
    fireEvent.change(screen.getByLabelText('Rule 1 days'), { target: { value: '30' } });
    expect(last().jsonData.retentionRules).toEqual([{ action: 'login', days: 30 }]);

    fireEvent.click(screen.getByRole('button', { name: /add rule/i }));
    fireEvent.change(screen.getByLabelText('Rule 2 action'), { target: { value: 'model_deleted' } });
    expect(last().jsonData.retentionRules).toEqual([
      { action: 'login', days: 30 },
      { action: 'model_deleted', days: 400 },
    ]);

    fireEvent.click(screen.getByRole('button', { name: 'Remove rule 1' }));
    expect(last().jsonData).toEqual({ retentionDays: 400, retentionRules: [{ action: 'model_deleted', days: 400 }] });
    expect(screen.getByLabelText('Rule 1 action')).toHaveValue('model_deleted');
    expect(screen.queryByLabelText('Rule 2 action')).not.toBeInTheDocument();
  });

  it('sets the log level', async () => {
    const { last } = setup(settings());
    fireEvent.keyDown(screen.getByLabelText('Log level'), { key: 'ArrowDown' });
    fireEvent.click(await screen.findByText('Debug'));
    expect(last().jsonData).toEqual({ logLevel: 'debug' });
  });
});
