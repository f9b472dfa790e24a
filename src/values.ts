import { VALUE_FIELDS, ValueField } from './types';

/**
 * The backend resource `GET values/{field}?q=&limit=` lists distinct values of
 * an event field (field: action, user, app or country) and answers
 * `{"values": ["login", "logout", ...]}`.
 */
export interface ValuesResponse {
  values?: unknown[];
}

export function valuesPath(field: ValueField): string {
  return 'values/' + field;
}

export function isValueField(field: unknown): field is ValueField {
  return VALUE_FIELDS.some((f) => f.value === field);
}

/** The strings of a `{"values": [...]}` response; anything else gives none. */
export function valuesFromResponse(res: unknown): string[] {
  const values = (res as ValuesResponse | undefined)?.values;
  if (!Array.isArray(values)) {
    return [];
  }
  return values.filter((v) => v !== null && v !== undefined).map((v) => String(v));
}
