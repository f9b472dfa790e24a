import { AuditFilters } from './types';

/**
 * Live tail channel paths.
 *
 * A logs query with `live: true` subscribes to the Grafana Live channel
 * `ds/<datasource uid>/<path>`, which Grafana hands to the backend's
 * SubscribeStream/RunStream with `path` as below:
 *
 *   tail                      no filters: every new event
 *   tail/<key>                key = base64url, without padding (RFC 4648 §5,
 *                             Go: base64.RawURLEncoding), of the UTF-8 JSON of
 *                             the filters object
 *
 * The JSON holds only the filters that are set (non-empty arrays and strings),
 * always in the order actions, users, apps, clientIps, countries, search,
 * eventId (the field order of the backend's Filters struct), and is written
 * as Go's json.Marshal would write it (see goJSON), so the same filters always
 * give the same channel and subscribers share one stream. Missing keys decode to empty filters. The same object is
 * also sent as the subscription's data.
 *
 * Grafana limits a whole channel name to 160 characters, so long filters do not
 * fit: `tailChannelFits` tells whether a path can be subscribed.
 */

export const TAIL_PATH = 'tail';

/** Grafana Live's maximum length of `scope/namespace/path`. */
export const MAX_CHANNEL_LENGTH = 160;

const FILTER_ORDER: Array<keyof AuditFilters> = [
  'actions',
  'users',
  'apps',
  'clientIps',
  'countries',
  'search',
  'eventId',
];

/** The set filters only, in canonical key order. */
export function compactFilters(filters?: Partial<AuditFilters>): Partial<AuditFilters> {
  const out: Record<string, string | string[]> = {};
  if (!filters) {
    return out;
  }
  for (const key of FILTER_ORDER) {
    const value = filters[key];
    if (Array.isArray(value)) {
      if (value.length > 0) {
        out[key] = value;
      }
    } else if (typeof value === 'string' && value !== '') {
      out[key] = value;
    }
  }
  return out as Partial<AuditFilters>;
}

/** base64url without padding of the UTF-8 bytes of text. */
export function base64UrlEncode(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (let i = 0; i < bytes.length; i++) {
    binary += String.fromCharCode(bytes[i]);
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * JSON as Go's encoding/json writes it: like JSON.stringify, but with <, >, &,
 * U+2028 and U+2029 escaped, so that the backend's own TailPath of the same
 * filters gives the very same channel.
 */
export function goJSON(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')
  );
}

/** The channel path of a live tail with these filters: `tail` or `tail/<key>`. */
export function tailPath(filters?: Partial<AuditFilters>): string {
  const compact = compactFilters(filters);
  if (Object.keys(compact).length === 0) {
    return TAIL_PATH;
  }
  return `${TAIL_PATH}/${base64UrlEncode(goJSON(compact))}`;
}

/** Whether `ds/<uid>/<path>` is within Grafana Live's channel length limit. */
export function tailChannelFits(uid: string, path: string): boolean {
  return `ds/${uid}/${path}`.length <= MAX_CHANNEL_LENGTH;
}
