import React, { useState } from 'react';
import { setTemplateSrv } from '@grafana/runtime';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';

import { DataSource } from '../datasource';
import { FakeTemplateSrv, instanceSettings } from '../testUtils';
import { AuditFilters, AuditQuery, emptyFilters } from '../types';
import { QueryEditor } from './QueryEditor';

const VALUES: Record<string, string[]> = {
  'values/action': ['login', 'logout', 'model_deleted'],
  'values/user': ['alice', 'bob'],
  'values/app': ['authentik'],
  'values/country': ['DE', 'FR'],
};

function setup(initial: Partial<AuditQuery> = {}) {
  const ds = new DataSource(instanceSettings());
  const getResource = jest
    .spyOn(ds, 'getResource')
    .mockImplementation(async (path: string) => ({ values: VALUES[path] ?? [] }));
  const onChange = jest.fn();
  const onRunQuery = jest.fn();
  const start: AuditQuery = { refId: 'A', queryType: 'logs', filters: emptyFilters(), limit: 1000, ...initial };

  function Harness() {
    const [query, setQuery] = useState<AuditQuery>(start);
    return (
      <QueryEditor
        datasource={ds}
        query={query}
        onChange={(q) => {
          onChange(q);
          setQuery(q);
        }}
        onRunQuery={onRunQuery}
      />
    );
  }
  render(<Harness />);
  const last = (): AuditQuery => onChange.mock.calls[onChange.mock.calls.length - 1][0];
  const filters = (): AuditFilters => last().filters as AuditFilters;
  return { ds, getResource, onChange, onRunQuery, last, filters };
}

function openMenu(label: string) {
  fireEvent.keyDown(screen.getByLabelText(label), { key: 'ArrowDown' });
}

beforeEach(() => {
  setTemplateSrv(new FakeTemplateSrv({ action: ['login'] }).asTemplateSrv());
});

describe('QueryEditor', () => {
  it('shows the logs editor by default', () => {
    setup();
    expect(screen.getByText('Logs')).toBeInTheDocument();
    expect(screen.getByLabelText('Live tail')).toBeInTheDocument();
    expect(screen.queryByLabelText('Event ID')).not.toBeInTheDocument();
    expect(screen.queryByLabelText('Group by')).not.toBeInTheDocument();
    expect(screen.getByLabelText('Limit')).toHaveValue(1000);
  });

  it('changes the query type and runs the query', async () => {
    const { last, onRunQuery } = setup();
    openMenu('Query type');
    fireEvent.click(await screen.findByText('Time series'));
    expect(last()).toMatchObject({ refId: 'A', queryType: 'timeseries' });
    expect(onRunQuery).toHaveBeenCalledTimes(1);
    expect(screen.getByLabelText('Group by')).toBeInTheDocument();
    expect(screen.queryByLabelText('Live tail')).not.toBeInTheDocument();

    openMenu('Group by');
    fireEvent.click(await screen.findByText('Country'));
    expect(last()).toMatchObject({ queryType: 'timeseries', groupBy: 'country' });
    expect(onRunQuery).toHaveBeenCalledTimes(2);
  });

  it('asks for the event id of details queries', () => {
    const { filters, onRunQuery } = setup({ queryType: 'details' });
    const input = screen.getByLabelText('Event ID');
    fireEvent.change(input, { target: { value: 'evt-1' } });
    expect(filters()).toEqual({ ...emptyFilters(), eventId: 'evt-1' });
    expect(onRunQuery).not.toHaveBeenCalled();
    fireEvent.blur(input);
    expect(onRunQuery).toHaveBeenCalledTimes(1);
    expect(screen.queryByLabelText('Group by')).not.toBeInTheDocument();
  });

  it('loads action suggestions from values/action and selects one', async () => {
    const { getResource, filters, onRunQuery } = setup();
    openMenu('Actions');
    await waitFor(() => expect(getResource).toHaveBeenCalledWith('values/action', { q: '', limit: 50 }));
    // dashboard variables are offered too
    expect(await screen.findByText('$action')).toBeInTheDocument();
    fireEvent.click(await screen.findByText('model_deleted'));
    expect(filters().actions).toEqual(['model_deleted']);
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('searches user suggestions with what is typed', async () => {
    const { getResource } = setup();
    const input = screen.getByLabelText('Users');
    fireEvent.change(input, { target: { value: 'al' } });
    await waitFor(() => expect(getResource).toHaveBeenCalledWith('values/user', { q: 'al', limit: 50 }));
    expect(getResource).not.toHaveBeenCalledWith('values/action', expect.anything());
  });

  it('accepts typed values and upper-cases country codes', async () => {
    const { filters } = setup({ filters: { ...emptyFilters(), countries: ['FR'] } });
    const input = screen.getByLabelText('Countries');
    openMenu('Countries');
    await screen.findByText('DE');
    // not among the suggestions: typed in by hand, in lower case
    fireEvent.change(input, { target: { value: 'it' } });
    fireEvent.keyDown(input, { key: 'Enter' });
    await waitFor(() => expect(filters().countries).toEqual(['FR', 'IT']));
  });

  it('edits client IPs as tags and flags what is not an IP or CIDR', () => {
    const { filters, onRunQuery } = setup();
    const input = screen.getByPlaceholderText('IP or CIDR, Enter to add');
    fireEvent.change(input, { target: { value: '10.0.0.0/8' } });
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(filters().clientIps).toEqual(['10.0.0.0/8']);
    expect(onRunQuery).toHaveBeenCalledTimes(1);
    expect(screen.queryByText(/Not an IP or CIDR/)).not.toBeInTheDocument();

    fireEvent.change(input, { target: { value: 'nonsense' } });
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(filters().clientIps).toEqual(['10.0.0.0/8', 'nonsense']);
    expect(screen.getByText('Not an IP or CIDR: nonsense')).toBeInTheDocument();
  });

  it('sets the search text and runs on blur', () => {
    const { filters, onRunQuery } = setup();
    const input = screen.getByLabelText('Search');
    fireEvent.change(input, { target: { value: 'password' } });
    expect(filters()).toEqual({ ...emptyFilters(), search: 'password' });
    expect(onRunQuery).not.toHaveBeenCalled();
    fireEvent.blur(input);
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('sets the limit within bounds', () => {
    const { last } = setup();
    const input = screen.getByLabelText('Limit');
    fireEvent.change(input, { target: { value: '250' } });
    expect(last().limit).toBe(250);
    fireEvent.change(input, { target: { value: '20000' } });
    expect(last().limit).toBe(10000);
    fireEvent.change(input, { target: { value: '' } });
    expect(last().limit).toBeUndefined();
    expect(input).toHaveValue(null);
  });

  it('switches live tail on', () => {
    const { last, onRunQuery } = setup();
    fireEvent.click(screen.getByLabelText('Live tail'));
    expect(last()).toMatchObject({ queryType: 'logs', live: true });
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('keeps the other filters when one changes', async () => {
    const { filters } = setup({ filters: { ...emptyFilters(), users: ['bob'], search: 'x' } });
    openMenu('Apps');
    fireEvent.click(await screen.findByText('authentik'));
    expect(filters()).toEqual({ ...emptyFilters(), users: ['bob'], search: 'x', apps: ['authentik'] });
    await act(async () => {});
  });
});
