import { AnnotationEvent, AnnotationQuery, DataFrame, Field, FieldType } from '@grafana/data';

import { AuditQuery, DEFAULT_QUERY, emptyFilters } from './types';

/** Names the logs frame's fields may have, first match wins. */
const TITLE_FIELDS = ['action'];
const TEXT_FIELDS = ['body', 'message', 'line', 'msg'];
const USER_FIELDS = ['user', 'username'];
const ID_FIELDS = ['id', 'eventId'];
const TIME_FIELDS = ['time', 'timestamp', 'ts'];

function findField(frame: DataFrame, names: string[]): Field | undefined {
  for (const name of names) {
    const field = frame.fields.find((f) => f.name === name || f.config?.displayName === name);
    if (field) {
      return field;
    }
  }
  return undefined;
}

function timeField(frame: DataFrame): Field | undefined {
  return findField(frame, TIME_FIELDS) ?? frame.fields.find((f) => f.type === FieldType.time);
}

function toMillis(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return value;
  }
  if (typeof value === 'string' && value !== '') {
    const n = Date.parse(value);
    return Number.isNaN(n) ? undefined : n;
  }
  if (value instanceof Date) {
    return value.getTime();
  }
  return undefined;
}

function str(field: Field | undefined, i: number): string {
  const v: unknown = field?.values[i];
  return v === undefined || v === null ? '' : String(v);
}

/**
 * Turns logs frames into annotations: time from the time field, title = action,
 * text = body (or message/line), tags = [action, user], id = event id.
 * Rows without a time are skipped; frames without a time field give nothing.
 */
export function framesToAnnotations(frames: DataFrame[]): AnnotationEvent[] {
  const events: AnnotationEvent[] = [];
  for (const frame of frames) {
    const time = timeField(frame);
    if (!time) {
      continue;
    }
    const title = findField(frame, TITLE_FIELDS);
    const text = findField(frame, TEXT_FIELDS);
    const user = findField(frame, USER_FIELDS);
    const id = findField(frame, ID_FIELDS);
    for (let i = 0; i < frame.length; i++) {
      const ms = toMillis(time.values[i]);
      if (ms === undefined) {
        continue;
      }
      const action = str(title, i);
      const who = str(user, i);
      const event: AnnotationEvent = {
        time: ms,
        title: action,
        text: str(text, i),
        tags: [action, who].filter((t) => t !== ''),
      };
      const eventId = str(id, i);
      if (eventId !== '') {
        event.id = eventId;
      }
      events.push(event);
    }
  }
  return events;
}

/** Normalises a stored annotation so that it carries a logs query. */
export function prepareAnnotation(json: AnnotationQuery<AuditQuery>): AnnotationQuery<AuditQuery> {
  const target = json.target;
  return {
    ...json,
    target: {
      ...DEFAULT_QUERY,
      ...(target ?? {}),
      filters: { ...emptyFilters(), ...(target?.filters ?? {}) },
      refId: target?.refId || 'Anno',
      queryType: 'logs',
      live: false,
    },
  };
}

/** The query an annotation runs: always a logs query, never a live tail. */
export function prepareAnnotationQuery(anno: AnnotationQuery<AuditQuery>): AuditQuery | undefined {
  if (!anno.target) {
    return undefined;
  }
  return { ...anno.target, queryType: 'logs', live: false };
}
