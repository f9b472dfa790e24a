package query

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/auditlog/auditlog/pkg/event"
)

// Change is one changed field of one event, ready for a table cell.
type Change struct {
	Field string
	Old   string
	New   string
}

// Changes lists what an event changed, field by field in name order. It
// reads, in this order of preference: the event's diff (native, or
// authentik's context.diff normalized at ingest); a raw context.diff;
// whole before/after (or old/new) objects in the context, compared here
// with nested keys as dotted paths; and a deleted object's
// context.model_state, whose every field goes from its value to "".
func Changes(e *event.Event) []Change {
	if len(e.Diff) > 0 {
		return fromDiff(e.Diff)
	}
	if len(e.Context) == 0 {
		return nil
	}
	var ctx map[string]json.RawMessage
	if json.Unmarshal(e.Context, &ctx) != nil {
		return nil
	}
	if raw, ok := ctx["diff"]; ok && isObject(raw) {
		if d := parseDiff(raw); len(d) > 0 {
			return fromDiff(d)
		}
	}
	for _, pair := range [][2]string{{"before", "after"}, {"old", "new"}} {
		before, after := ctx[pair[0]], ctx[pair[1]]
		if isObject(before) && isObject(after) {
			return compare(before, after)
		}
	}
	if raw, ok := ctx["model_state"]; ok && isObject(raw) {
		var state map[string]json.RawMessage
		if json.Unmarshal(raw, &state) == nil {
			out := make([]Change, 0, len(state))
			for k, v := range state {
				out = append(out, Change{Field: k, Old: renderValue(v)})
			}
			sortChanges(out)
			return out
		}
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func fromDiff(d map[string]event.Change) []Change {
	out := make([]Change, 0, len(d))
	for field, c := range d {
		out = append(out, renderChange(field, c))
	}
	sortChanges(out)
	return out
}

// renderChange shows a many-to-many change as "+[pk1, pk2]", "-[pk3]" or
// "cleared" in the new column, and a field change as old → new.
func renderChange(field string, c event.Change) Change {
	if !c.Clear && c.Add == nil && c.Remove == nil {
		return Change{Field: field, Old: renderValue(c.Old), New: renderValue(c.New)}
	}
	var parts []string
	if c.Clear {
		parts = append(parts, "cleared")
	}
	list := func(sign string, vals []json.RawMessage) {
		if vals == nil {
			return
		}
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i] = renderValue(v)
		}
		parts = append(parts, sign+"["+strings.Join(s, ", ")+"]")
	}
	list("+", c.Add)
	list("-", c.Remove)
	return Change{Field: field, Old: renderValue(c.Old), New: strings.Join(parts, " ")}
}

// parseDiff reads authentik's diff shapes from a context that ingest did
// not normalize (an event stored before normalization existed, or sent
// with a diff of its own next to the context's).
func parseDiff(raw json.RawMessage) map[string]event.Change {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return nil
	}
	out := make(map[string]event.Change, len(fields))
	for name, v := range fields {
		ch, err := event.ParseChange(v)
		if !isObject(v) || err != nil {
			// Not a change object: show the value as what the field is now.
			out[name] = event.Change{New: v}
			continue
		}
		out[name] = ch
	}
	return out
}

// compare diffs two JSON objects leaf by leaf. Arrays are leaves: a
// reordered list is a change worth seeing whole.
func compare(before, after json.RawMessage) []Change {
	a, b := map[string]json.RawMessage{}, map[string]json.RawMessage{}
	flatten("", before, a)
	flatten("", after, b)
	var out []Change
	for k, av := range a {
		bv, ok := b[k]
		if !ok || canonical(av) != canonical(bv) {
			out = append(out, Change{Field: k, Old: renderValue(av), New: renderValue(bv)})
		}
	}
	for k, bv := range b {
		if _, ok := a[k]; !ok {
			out = append(out, Change{Field: k, New: renderValue(bv)})
		}
	}
	sortChanges(out)
	return out
}

// flatten puts the leaves of a JSON value into out under dotted paths. An
// empty object is a leaf, so that {} → {"a":1} still shows a change.
func flatten(prefix string, raw json.RawMessage, out map[string]json.RawMessage) {
	var obj map[string]json.RawMessage
	if isObject(raw) && json.Unmarshal(raw, &obj) == nil && len(obj) > 0 {
		for k, v := range obj {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, v, out)
		}
		return
	}
	if prefix != "" {
		out[prefix] = raw
	}
}

// canonical makes equal JSON values compare equal however they are spaced.
func canonical(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

func sortChanges(c []Change) {
	slices.SortFunc(c, func(a, b Change) int { return strings.Compare(a.Field, b.Field) })
}

// flattenContext lists a context's leaves for the details view: nested
// objects become dotted paths; arrays stay whole, as compact JSON.
func flattenContext(ctx json.RawMessage) [][2]string {
	if !isObject(ctx) {
		if len(bytes.TrimSpace(ctx)) == 0 {
			return nil
		}
		return [][2]string{{"context", renderLeaf(ctx)}}
	}
	leaves := map[string]json.RawMessage{}
	flatten("", ctx, leaves)
	keys := make([]string, 0, len(leaves))
	for k := range leaves {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][2]string, len(keys))
	for i, k := range keys {
		out[i] = [2]string{"context." + k, renderLeaf(leaves[k])}
	}
	return out
}

// renderLeaf is renderValue, except that null stays visible: in the details
// view "null" and "" are different facts.
func renderLeaf(raw json.RawMessage) string {
	if string(bytes.TrimSpace(raw)) == "null" {
		return "null"
	}
	return renderValue(raw)
}
