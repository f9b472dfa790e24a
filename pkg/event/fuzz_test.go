package event

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzDecode: any input either fails with an *Error or yields an event
// that, once normalized and valid, survives a trip through its own JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"action":"login","user":{"id":"1","username":"alice"},"clientIp":"81.2.69.142"}`,
		`{"pk":"f52f9eb9-dc2a-4f1e-afea-ad5af90bf680","user":{"pk":1,"email":"root@localhost","username":"akadmin"},"action":"authorize_application","app":"authentik.providers.oauth2.views.authorize","context":{"geo":{"continent":"EU","country":"DE","city":"Berlin","lat":52.52,"long":13.40},"asn":{"asn":6805,"as_org":"Telefonica Germany","network":"5.4.0.0/14"}},"client_ip":"5.4.1.2","created":"2023-02-15T10:02:48.615499Z","expires":"2024-02-15T10:02:48.612809Z","brand":{"pk":"1080","app":"authentik_brands","name":"Default brand","model_name":"brand"}}`,
		`{"action":"model_updated","context":{"diff":{"email":{"previous_value":"a","new_value":"b"},"groups":{"add":[1,2]}}}}`,
		`{"action":"x","diff":{"f":{"old":1,"new":[1,{"a":null}]}},"tenant":"t1","severity":"error"}`,
		`{"action":"login","time":"1969-12-31T23:59:59Z"}`, `{"action":"a\u0000"}`, `[1,2]`, `{`, `{"action":1}`,
		`{"action":"x","context":{"a":{"b":{"c":{"d":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}}}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Decode error is %T, want *Error: %v", err, err)
			}
			return
		}
		Normalize(&e, now)
		if Validate(&e) != nil {
			return
		}
		Retention{}.Apply(&e)
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("marshal a valid event: %v", err)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("a valid event does not decode from its own JSON: %v\n%s", err, out)
		}
		Normalize(&again, now)
		if err := Validate(&again); err != nil {
			t.Fatalf("a valid event is invalid after a round trip: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(canon(t, e), canon(t, again)) {
			t.Fatalf("round trip changed the event:\n%s\n%s", out, mustJSON(again))
		}
	})
}

// canon compares events by their JSON meaning, not byte layout. Numbers
// stay text: a context may hold 1e400, which is valid JSON (and kept as
// sent) but no float64.
func canon(t *testing.T, e Event) any {
	var v any
	dec := json.NewDecoder(bytes.NewReader(mustJSON(e)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func mustJSON(e Event) []byte {
	b, _ := json.Marshal(e)
	return b
}
