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

  describe('query limits', () => {
    const timeoutField = () => screen.getByLabelText('Query timeout');
    const memoryField = () => screen.getByLabelText('Query memory limit');

    it.each([
      ['45', 45],
      ['1', 1],
      ['1.5', 1.5],
      ['86400', 86400],
    ])('stores a query timeout of %s seconds', (text, want) => {
      const { last } = setup(settings({ tenant: 'acme' }));
      expect(timeoutField()).toHaveAttribute('placeholder', '30');
      fireEvent.change(timeoutField(), { target: { value: text } });
      expect(last().jsonData).toEqual({ tenant: 'acme', queryTimeout: want });
      expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    });

    it.each([
      ['0.5', /at least 1 second/],
      ['0', /at least 1 second/],
      ['-3', /at least 1 second/],
      ['86401', /at most 86400 seconds/],
    ])('refuses a query timeout of %s with a message', (text, message) => {
      const { last } = setup(settings({ queryTimeout: 60 }));
      fireEvent.change(timeoutField(), { target: { value: text } });
      expect(screen.getByRole('alert')).toHaveTextContent(message);
      expect(last().jsonData.queryTimeout).toBeUndefined();
      // the entry stays, beside its message, also after leaving the field
      fireEvent.blur(timeoutField());
      expect(timeoutField()).toHaveValue(Number(text));
      expect(screen.getByRole('alert')).toHaveTextContent(message);

      fireEvent.change(timeoutField(), { target: { value: '20' } });
      expect(last().jsonData.queryTimeout).toBe(20);
      expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    });

    it.each([
      ['512MiB', 512 * 2 ** 20, '512MiB'],
      ['2GB', 2e9, '2GB'],
      ['2G', 2 * 2 ** 30, '2GiB'],
      ['10 mb', 1e7, '10MB'],
      ['1.5GiB', 1.5 * 2 ** 30, '1536MiB'],
      ['8.2MB', 8.2e6, '8200kB'],
      ['1.1KB', 1100, '1100B'],
      ['4096', 4096, '4KiB'],
      ['512', 512, '512B'],
    ])('stores a memory limit of %s as %d bytes, shown as %s', (text, bytes, shown) => {
      const { last } = setup(settings({ tenant: 'acme' }));
      fireEvent.change(memoryField(), { target: { value: text } });
      expect(last().jsonData).toEqual({ tenant: 'acme', queryMaxMemory: bytes });
      expect(memoryField()).toHaveValue(text);
      expect(screen.queryByRole('alert')).not.toBeInTheDocument();
      fireEvent.blur(memoryField());
      expect(memoryField()).toHaveValue(shown);
      expect(last().jsonData.queryMaxMemory).toBe(bytes);
    });

    it.each([
      ['lots', /Not a size; write it like 512MiB, 2GB or 4096/],
      ['MiB', /Not a size/],
      ['10XB', /Not a size/],
      ['-1MiB', /Not a size/],
      ['1e9', /Not a size/],
      ['0', /more than 0 bytes/],
      ['0.1', /more than 0 bytes/],
      ['99999999999GiB', /too large/],
    ])('refuses a memory limit of %s with a message', (text, message) => {
      const { last } = setup(settings({ queryMaxMemory: 2 ** 30 }));
      fireEvent.change(memoryField(), { target: { value: text } });
      expect(screen.getByRole('alert')).toHaveTextContent(message);
      expect(last().jsonData.queryMaxMemory).toBeUndefined();
      fireEvent.blur(memoryField());
      expect(memoryField()).toHaveValue(text);
      expect(screen.getByRole('alert')).toHaveTextContent(message);

      fireEvent.change(memoryField(), { target: { value: '1GiB' } });
      expect(last().jsonData.queryMaxMemory).toBe(2 ** 30);
      expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    });

    it('clears both limits', () => {
      const { last } = setup(settings({ tenant: 'acme', queryTimeout: 60, queryMaxMemory: 2 ** 30 }));
      fireEvent.change(timeoutField(), { target: { value: '' } });
      fireEvent.change(memoryField(), { target: { value: '  ' } });
      expect(last().jsonData).toEqual({ tenant: 'acme' });
      expect(screen.queryByRole('alert')).not.toBeInTheDocument();
      fireEvent.blur(memoryField());
      expect(memoryField()).toHaveValue('');
    });

    it.each<[AuditOptions, number | null, string]>([
      [{}, null, ''],
      [{ queryTimeout: 0, queryMaxMemory: 0 }, null, ''],
      [{ queryTimeout: 45 }, 45, ''],
      [{ queryTimeout: 2.5, queryMaxMemory: 512 * 2 ** 20 }, 2.5, '512MiB'],
      [{ queryMaxMemory: 2e9 }, null, '2GB'],
      [{ queryMaxMemory: 3 * 2 ** 30 }, null, '3GiB'],
      [{ queryMaxMemory: 1234567 }, null, '1234567B'],
    ])('shows the stored limits %j', (jsonData, timeout, memory) => {
      setup(settings(jsonData));
      expect(timeoutField()).toHaveValue(timeout);
      expect(memoryField()).toHaveValue(memory);
      expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    });

    it('flags invalid stored limits, as the health check would', () => {
      setup(settings({ queryTimeout: 0.5, queryMaxMemory: -1 }));
      expect(timeoutField()).toHaveValue(0.5);
      const alerts = screen.getAllByRole('alert');
      expect(alerts).toHaveLength(2);
      expect(alerts[0]).toHaveTextContent(/at least 1 second/);
      expect(alerts[1]).toHaveTextContent(/Not a size/);
    });
  });

  it('sets the log level', async () => {
    const { last } = setup(settings());
    fireEvent.keyDown(screen.getByLabelText('Log level'), { key: 'ArrowDown' });
    fireEvent.click(await screen.findByText('Debug'));
    expect(last().jsonData).toEqual({ logLevel: 'debug' });
  });
});
