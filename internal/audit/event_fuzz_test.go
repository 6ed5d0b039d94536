package audit

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeEvent checks that decoding never panics, that it accepts only
// what encoding/json considers valid JSON, and that an accepted event
// re-decodes to the same thing from its raw bytes.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		execEvent, podCreate, `{}`, `{"kind":"EventList","items":[{}]}`, `{"user":{"extra":{"a":["b"]}}}`,
		`{"responseStatus":{"code":403,"details":{"kind":"pods"}}}`, `{"stageTimestamp":"2024-01-01T00:00:00Z"}`,
		`{"requestObject":{"spec":{"containers":[{"image":"x"}]}}}`, `{"verb":"\u0067et"}`, `[`, `{"a":"\xff"}`, `"\ud83d\ude00 \ud800x \u00e9 \n\t\/"`, "\"\xe9\xff\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data)
		valid := json.Valid(data)
		if err == nil && !valid {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if _, _, verr := validate(data); (verr == nil) != valid {
			t.Fatalf("validate(%q) = %v; encoding/json valid = %v", data, verr, valid)
		}
		// Strings unescape exactly as encoding/json does them.
		if valid && Value(data).Kind() == String {
			var want string
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			if got, ok := Value(data).Str(); !ok || got != want {
				t.Fatalf("Str(%q) = %q, %v; encoding/json gives %q", data, got, ok, want)
			}
		}
		// Value methods never panic, whatever the input.
		v := Value(data)
		v.Kind()
		v.Text()
		v.Len()
		v.Pointer("/requestObject/spec/containers/0/image")
		for range v.Members() {
		}
		_, _ = DecodeList(data)
		if err != nil {
			return
		}
		again, err := Decode(ev.Raw())
		if err != nil {
			t.Fatalf("raw of an accepted event does not decode: %v", err)
		}
		if again.AuditID != ev.AuditID || again.Verb != ev.Verb || again.User.Username != ev.User.Username ||
			!bytes.Equal(again.RequestObject, ev.RequestObject) {
			t.Fatalf("re-decoding changed the event")
		}
		if _, err := json.Marshal(ev); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	})
}

// FuzzDecodeBatch checks that a webhook body never panics the batch
// decoder, that only valid JSON is accepted, and that every event it
// returns decodes the same on its own.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + execEvent + `,` + podCreate + `]}`,
		`{"kind":"EventList","items":[{"verb":1},{}]}`, `{"kind":"EventList","items":null}`, `{"kind":"EventList","items":{}}`,
		`{"kind":"Pod"}`, `{"kind":"EventList","apiVersion":"v2"}`, execEvent, `[]`, `{"kind":"EventList","items":[{"kind":"Event"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, bad, err := DecodeBatch(data)
		if err != nil {
			if len(evs) != 0 || len(bad) != 0 {
				t.Fatalf("error %v with %d events and %d bad items", err, len(evs), len(bad))
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		for _, ev := range evs {
			again, err := Decode(ev.Raw())
			if err != nil {
				t.Fatalf("event %q from a batch does not decode alone: %v", ev.Raw(), err)
			}
			if again.AuditID != ev.AuditID || again.Verb != ev.Verb || !again.Time().Equal(ev.Time()) {
				t.Fatalf("event decodes differently alone: %+v vs %+v", again, ev)
			}
		}
		for _, b := range bad {
			if b.Err == nil || b.Index < 0 {
				t.Fatalf("bad item without an error: %+v", b)
			}
		}
	})
}
