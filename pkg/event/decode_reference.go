package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file is Decode as encoding/json does it: the authority on what an
// event means. decodeFast must give the same result for every input it
// takes (FuzzDecodeMatchesReference holds it to that), and leaves every
// other input, and with it every error message, to decodeReference.

// wire is the union of the native and the authentik JSON forms, so that one
// decode pass serves both.
type wire struct {
	// native
	ID       *string         `json:"id"`
	Time     *string         `json:"time"`
	ClientIP *string         `json:"clientIp"`
	Severity *string         `json:"severity"`
	Object   *wireObject     `json:"object"`
	Diff     json.RawMessage `json:"diff"`
	Tenant   json.RawMessage `json:"tenant"` // native: string; old authentik: object
	// both
	Action  *string         `json:"action"`
	App     *string         `json:"app"`
	User    *wireUser       `json:"user"`
	Context json.RawMessage `json:"context"`
	Expires *string         `json:"expires"`
	// authentik
	PK         *string         `json:"pk"`
	EventUUID  *string         `json:"event_uuid"`
	ClientIPAK *string         `json:"client_ip"`
	Created    *string         `json:"created"`
	Brand      json.RawMessage `json:"brand"`
	Expiring   *bool           `json:"expiring"`
	// Stored events carry these; accepting them lets a stored event be re-sent
	// as is. Ingest overwrites receivedAt and keeps geo/asn only if present.
	ReceivedAt *string `json:"receivedAt"`
	Geo        *Geo    `json:"geo"`
	ASN        *ASN    `json:"asn"`
}

type wireUser struct {
	ID       flexString `json:"id"`
	PK       flexString `json:"pk"`
	Username string     `json:"username"`
	Email    string     `json:"email"`
	// extra is the whole object when it has more than the four keys above,
	// as authentik's impersonation (on_behalf_of) and pending-user shapes do.
	extra json.RawMessage
}

// UnmarshalJSON decodes leniently: the top-level strictness of Decode is
// about typos in event fields, not about what a sender knows of a user.
func (u *wireUser) UnmarshalJSON(b []byte) error {
	type plain wireUser
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return err
	}
	for k := range keys {
		switch k {
		case "id", "pk", "username", "email":
		default:
			p.extra = append(json.RawMessage(nil), b...)
		}
	}
	*u = wireUser(p)
	return nil
}

type wireObject struct {
	App       string     `json:"app"`
	Model     string     `json:"model"`
	ModelName string     `json:"model_name"`
	PK        flexString `json:"pk"`
	Name      string     `json:"name"`
}

// UnmarshalJSON decodes leniently, like wireUser.
func (o *wireObject) UnmarshalJSON(b []byte) error {
	type plain wireObject
	return json.Unmarshal(b, (*plain)(o))
}

// flexString takes a JSON string or number: authentik's user pk is an
// integer, other systems send strings.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if b[0] == '-' || (b[0] >= '0' && b[0] <= '9') {
		*f = flexString(b)
		return nil
	}
	return errors.New("expected a string or a number")
}

// decodeReference is the encoding/json implementation of Decode. It is the
// authority on every input the fast decoder does not take, which is where
// all error messages come from, and the reference the fast decoder is
// fuzzed against.
func decodeReference(b []byte) (Event, error) {
	var e Event
	if !utf8.Valid(b) {
		return e, &Error{Msg: "event is not valid UTF-8"}
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return e, &Error{Msg: "event must be a JSON object"}
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return e, jsonError(err)
	}
	// dec.More is not enough here: it reports false for a stray "}" or "]"
	// after the object, which would let `{…}}` through.
	if len(bytes.TrimSpace(b[dec.InputOffset():])) > 0 {
		return e, &Error{Msg: "trailing data after the event object"}
	}
	return fromWire(&w)
}

// jsonError turns encoding/json's messages into ones that name the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "event"
		}
		return fieldErr(field, "expected %s, got JSON %s", te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &Error{Msg: fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error())}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fieldErr(strings.Trim(f, `"`), "unknown field")
	}
	if errors.Is(err, errUnexpectedEOF) || strings.Contains(msg, "unexpected EOF") {
		return &Error{Msg: "truncated JSON"}
	}
	return &Error{Msg: "invalid JSON: " + strings.TrimPrefix(msg, "json: ")}
}

var errUnexpectedEOF = errors.New("unexpected EOF")

func fromWire(w *wire) (Event, error) {
	var e Event
	var err error

	if e.ID, err = pickOne("id", w.ID, "pk", w.PK, "event_uuid", w.EventUUID); err != nil {
		return e, err
	}
	ts, err := pickOne("time", w.Time, "created", w.Created, "", nil)
	if err != nil {
		return e, err
	}
	if ts != "" {
		field := "time"
		if w.Time == nil {
			field = "created"
		}
		if e.Time, err = parseTime(field, ts); err != nil {
			return e, err
		}
	}
	if e.ClientIP, err = pickOne("clientIp", w.ClientIP, "client_ip", w.ClientIPAK, "", nil); err != nil {
		return e, err
	}
	e.Action = deref(w.Action)
	e.App = deref(w.App)
	e.Severity = deref(w.Severity)
	if w.Expires != nil && *w.Expires != "" {
		if e.Expires, err = parseTime("expires", *w.Expires); err != nil {
			return e, err
		}
	}
	if w.User != nil {
		id := string(w.User.ID)
		if id == "" {
			id = string(w.User.PK)
		}
		e.User = User{ID: id, Username: w.User.Username, Email: w.User.Email}
	}
	if w.Object != nil {
		model := w.Object.Model
		if model == "" {
			model = w.Object.ModelName
		}
		e.Object = Object{App: w.Object.App, Model: model, PK: string(w.Object.PK), Name: w.Object.Name}
	}
	e.Geo, e.ASN = w.Geo, w.ASN

	var ctx map[string]json.RawMessage
	if len(w.Context) > 0 && string(w.Context) != "null" {
		if len(w.Context) > MaxContextBytes {
			return e, fieldErr("context", "larger than %d bytes", MaxContextBytes)
		}
		if err := checkNesting(w.Context); err != nil {
			return e, fieldErr("context", "%v", err)
		}
		if err := json.Unmarshal(w.Context, &ctx); err != nil {
			return e, fieldErr("context", "must be a JSON object")
		}
		if ctx == nil {
			ctx = map[string]json.RawMessage{}
		}
	}

	if len(w.Tenant) > 0 && string(w.Tenant) != "null" {
		if w.Tenant[0] == '"' {
			if err := json.Unmarshal(w.Tenant, &e.Tenant); err != nil {
				return e, fieldErr("tenant", "must be a string")
			}
		} else if w.Tenant[0] == '{' {
			// authentik before 2024 called the brand "tenant"; it is not
			// our isolation tenant, so it goes where brand goes.
			ctx = setIfAbsent(ctx, "brand", w.Tenant)
		} else {
			return e, fieldErr("tenant", "must be a string")
		}
	}
	if len(w.Brand) > 0 && string(w.Brand) != "null" {
		ctx = setIfAbsent(ctx, "brand", w.Brand)
	}
	if w.User != nil && w.User.extra != nil {
		// Keep impersonation facts queryable without widening the model.
		ctx = setIfAbsent(ctx, "user", w.User.extra)
	}

	if len(w.Diff) > 0 && string(w.Diff) != "null" {
		if e.Diff, err = parseDiff("diff", w.Diff); err != nil {
			return e, err
		}
	}
	if ctx != nil {
		if err := fromAuthentikContext(&e, ctx); err != nil {
			return e, err
		}
		if e.Context, err = json.Marshal(ctx); err != nil {
			return e, fieldErr("context", "%v", err)
		}
	}
	return e, nil
}

// fromAuthentikContext lifts the parts of an authentik context that the
// model has columns for. The context itself is kept whole.
func fromAuthentikContext(e *Event, ctx map[string]json.RawMessage) error {
	if raw, ok := ctx["geo"]; ok && e.Geo == nil {
		var g struct {
			Continent string   `json:"continent"`
			Country   string   `json:"country"`
			City      string   `json:"city"`
			Lat       *float64 `json:"lat"`
			Long      *float64 `json:"long"`
			Lon       *float64 `json:"lon"`
		}
		if err := json.Unmarshal(raw, &g); err != nil {
			return fieldErr("context.geo", "must be an object with continent, country, city, lat, long")
		}
		geo := &Geo{Continent: g.Continent, CountryCode: g.Country, City: g.City}
		if g.Lat != nil {
			geo.Lat = *g.Lat
		}
		if g.Long != nil {
			geo.Lon = *g.Long
		} else if g.Lon != nil {
			geo.Lon = *g.Lon
		}
		e.Geo = geo
	}
	if raw, ok := ctx["asn"]; ok && e.ASN == nil {
		var a struct {
			ASN     *uint32 `json:"asn"`
			Org     string  `json:"as_org"`
			Network string  `json:"network"`
		}
		if err := json.Unmarshal(raw, &a); err != nil || a.ASN == nil {
			return fieldErr("context.asn", "must be an object with asn, as_org, network")
		}
		e.ASN = &ASN{Number: *a.ASN, Org: a.Org, Network: a.Network}
	}
	if raw, ok := ctx["model"]; ok && e.Object == (Object{}) && len(raw) > 0 && raw[0] == '{' {
		var o wireObject
		if err := json.Unmarshal(raw, &o); err != nil {
			return fieldErr("context.model", "must be an object with app, model_name, pk, name")
		}
		e.Object = Object{App: o.App, Model: o.ModelName, PK: string(o.PK), Name: o.Name}
		if e.Object.Model == "" {
			e.Object.Model = o.Model
		}
	}
	if raw, ok := ctx["diff"]; ok && e.Diff == nil && len(raw) > 0 && raw[0] == '{' {
		d, err := parseDiff("context.diff", raw)
		if err != nil {
			return err
		}
		e.Diff = d
	}
	return nil
}

// parseDiff accepts the native {old,new} shape and authentik's
// {previous_value,new_value}, {add|remove:[…]} and {clear:true} shapes.
func parseDiff(field string, raw json.RawMessage) (map[string]Change, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fieldErr(field, "must be an object of field changes")
	}
	if len(fields) > MaxDiffFields {
		return nil, fieldErr(field, "more than %d fields", MaxDiffFields)
	}
	out := make(map[string]Change, len(fields))
	for name, v := range fields {
		ch, err := ParseChange(v)
		if err != nil {
			return nil, fieldErr(field+"."+name, "must be an object like {\"old\": …, \"new\": …}")
		}
		out[name] = ch
	}
	return out, nil
}

func setIfAbsent(ctx map[string]json.RawMessage, key string, v json.RawMessage) map[string]json.RawMessage {
	if ctx == nil {
		ctx = map[string]json.RawMessage{}
	}
	if _, ok := ctx[key]; !ok {
		ctx[key] = v
	}
	return ctx
}

// pickOne returns the value of whichever alias is set, and refuses two
// aliases that disagree.
func pickOne(n1 string, v1 *string, n2 string, v2 *string, n3 string, v3 *string) (string, error) {
	var name, val string
	for _, c := range []struct {
		n string
		v *string
	}{{n1, v1}, {n2, v2}, {n3, v3}} {
		if c.v == nil || *c.v == "" {
			continue
		}
		if name != "" && val != *c.v {
			return "", fieldErr(c.n, "conflicts with %s", name)
		}
		name, val = c.n, *c.v
	}
	return val, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
