import React, { useState } from 'react';
import { fireEvent, render, screen } from '@testing-library/react';

import { DataSource } from '../datasource';
import { instanceSettings } from '../testUtils';
import { AuditVariableQuery } from '../types';
import { normalizeVariableQuery, VariableQueryEditor } from './VariableQueryEditor';

function setup(initial: AuditVariableQuery | string) {
  const ds = new DataSource(instanceSettings());
  const onChange = jest.fn();
  function Harness() {
    const [query, setQuery] = useState(initial as AuditVariableQuery);
    return (
      <VariableQueryEditor
        datasource={ds}
        query={query}
        onRunQuery={() => {}}
        onChange={(q) => {
          onChange(q);
          setQuery(q);
        }}
      />
    );
  }
  render(<Harness />);
  const last = (): AuditVariableQuery => onChange.mock.calls[onChange.mock.calls.length - 1][0];
  return { onChange, last };
}

describe('VariableQueryEditor', () => {
  it('normalizes stored queries of any shape', () => {
    expect(normalizeVariableQuery('')).toEqual({ refId: 'AuditVariableQuery', field: 'action' });
    expect(normalizeVariableQuery(undefined)).toEqual({ refId: 'AuditVariableQuery', field: 'action' });
    expect(normalizeVariableQuery({ refId: 'X', field: 'bogus' as never, q: 'a' })).toEqual({
      refId: 'X',
      field: 'action',
      q: 'a',
    });
    expect(normalizeVariableQuery({ refId: 'X', field: 'country', limit: 5 })).toEqual({
      refId: 'X',
      field: 'country',
      limit: 5,
    });
  });

  it('picks the field', async () => {
    const { last } = setup({ refId: 'V', field: 'action' });
    expect(screen.getByText('Action')).toBeInTheDocument();
    fireEvent.keyDown(screen.getByLabelText('Field'), { key: 'ArrowDown' });
    fireEvent.click(await screen.findByText('Country'));
    expect(last()).toEqual({ refId: 'V', field: 'country' });
  });

  it('sets the prefix and the limit on blur', () => {
    const { onChange, last } = setup('');
    const q = screen.getByLabelText('Filter');
    fireEvent.change(q, { target: { value: 'log' } });
    expect(onChange).not.toHaveBeenCalled();
    fireEvent.blur(q);
    expect(last()).toEqual({ refId: 'AuditVariableQuery', field: 'action', q: 'log' });

    const limit = screen.getByLabelText('Limit');
    fireEvent.change(limit, { target: { value: '25' } });
    fireEvent.blur(limit);
    expect(last()).toEqual({ refId: 'AuditVariableQuery', field: 'action', q: 'log', limit: 25 });

    fireEvent.change(q, { target: { value: '' } });
    fireEvent.blur(q);
    expect(last()).toEqual({ refId: 'AuditVariableQuery', field: 'action', q: undefined, limit: 25 });
    expect(onChange).toHaveBeenCalledTimes(3);
  });

  it('does not report unchanged values', () => {
    const { onChange } = setup({ refId: 'V', field: 'user', q: 'al', limit: 10 });
    expect(screen.getByLabelText('Filter')).toHaveValue('al');
    expect(screen.getByLabelText('Limit')).toHaveValue(10);
    fireEvent.blur(screen.getByLabelText('Filter'));
    fireEvent.blur(screen.getByLabelText('Limit'));
    expect(onChange).not.toHaveBeenCalled();
  });
});
