package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// execEvent is a pods/exec event as kube-apiserver 1.30 logs it.
const execEvent = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0f1e2d3c-4b5a-4697-8877-665544332211","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/payments/pods/api-7c9f8d6b54-k2vzp/exec?command=sh\u0026command=-c\u0026command=id\u0026container=api\u0026stdin=true\u0026stdout=true\u0026tty=true","verb":"create","user":{"username":"alice@contoso.com","uid":"6f1c9a52-3c0e-4f0c-9b7e-2a4d1f7e8c31","groups":["8d2f5a17-1b3e-4c9a-a6f0-5e7d9c2b4a10","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=abc"]}},"impersonatedUser":{"username":"bob","groups":["dev"]},"sourceIPs":["203.0.113.45","10.224.0.9"],"userAgent":"kubectl/v1.30.2 (linux/amd64) kubernetes/39683505","objectRef":{"resource":"pods","namespace":"payments","name":"api-7c9f8d6b54-k2vzp","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"status":"Success","code":101},"requestReceivedTimestamp":"2024-06-03T14:02:11.482913Z","stageTimestamp":"2024-06-03T14:02:11.527410Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"ops/payments\" of ClusterRole \"edit\" to Group \"8d2f\""}}`

// podCreate is a pod creation at the RequestResponse level, pretty-printed.
const podCreate = `
{
  "kind": "Event",
  "apiVersion": "audit.k8s.io/v1",
  "level": "RequestResponse",
  "auditID": "4c3b2a19-8e7d-4f6a-9b5c-1d2e3f4a5b6c",
  "stage": "ResponseComplete",
  "requestURI": "/api/v1/namespaces/payments/pods",
  "verb": "create",
  "user": {"username": "alice@contoso.com", "groups": ["system:authenticated"]},
  "sourceIPs": ["203.0.113.45"],
  "objectRef": {"resource": "pods", "namespace": "payments", "name": "debug", "apiVersion": "v1"},
  "responseStatus": {"metadata": {}, "code": 201},
  "requestObject": {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {"name": "debug", "annotations": {"a/b": "x", "c~d": "y"}},
    "spec": {"containers": [
      {"name": "shell", "image": "alpine:3.20", "securityContext": {"privileged": true}},
      {"name": "side", "image": "busybox", "ports": [ {"containerPort": 80} ]}
    ]}
  },
  "responseObject": {"kind": "Pod", "metadata": {"name": "debug", "uid": "u-1"}},
  "requestReceivedTimestamp": "2024-06-03T15:00:00.010000Z",
  "stageTimestamp": "2024-06-03T15:00:00.031000Z"
}
`

func TestDecodeEvent(t *testing.T) {
	ev, err := Decode([]byte(execEvent))
	if err != nil {
		t.Fatal(err)
	}
	want := &Event{
		Kind: "Event", APIVersion: APIVersion, Level: "Metadata",
		AuditID:    "0f1e2d3c-4b5a-4697-8877-665544332211",
		Stage:      "ResponseStarted",
		RequestURI: "/api/v1/namespaces/payments/pods/api-7c9f8d6b54-k2vzp/exec?command=sh&command=-c&command=id&container=api&stdin=true&stdout=true&tty=true",
		Verb:       "create",
		User: UserInfo{
			Username: "alice@contoso.com", UID: "6f1c9a52-3c0e-4f0c-9b7e-2a4d1f7e8c31",
			Groups: []string{"8d2f5a17-1b3e-4c9a-a6f0-5e7d9c2b4a10", "system:authenticated"},
			Extra:  map[string][]string{"authentication.kubernetes.io/credential-id": {"JTI=abc"}},
		},
		ImpersonatedUser: &UserInfo{Username: "bob", Groups: []string{"dev"}},
		SourceIPs:        []string{"203.0.113.45", "10.224.0.9"},
		UserAgent:        "kubectl/v1.30.2 (linux/amd64) kubernetes/39683505",
		ObjectRef: &ObjectReference{Resource: "pods", Namespace: "payments", Name: "api-7c9f8d6b54-k2vzp",
			APIVersion: "v1", Subresource: "exec"},
		ResponseStatus:           &Status{Status: "Success", Code: 101},
		RequestReceivedTimestamp: time.Date(2024, 6, 3, 14, 2, 11, 482913000, time.UTC),
		StageTimestamp:           time.Date(2024, 6, 3, 14, 2, 11, 527410000, time.UTC),
		Annotations: map[string]string{
			"authorization.k8s.io/decision": "allow",
			"authorization.k8s.io/reason":   `RBAC: allowed by RoleBinding "ops/payments" of ClusterRole "edit" to Group "8d2f"`,
		},
	}
	want.raw = ev.raw
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", ev, want)
	}
	if got := ev.Time(); !got.Equal(want.StageTimestamp) {
		t.Errorf("Time() = %v", got)
	}
	if string(ev.Raw()) != execEvent {
		t.Errorf("Raw() does not keep the event")
	}
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	// The hand-written decoder must agree with encoding/json on the typed
	// fields of the same event.
	for _, in := range []string{execEvent, podCreate} {
		got, err := Decode([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		type plain Event
		var want plain
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		want.raw = got.raw
		// encoding/json keeps raw messages with their original spacing;
		// ours are the same bytes.
		if !reflect.DeepEqual((*plain)(got), &want) {
			t.Errorf("Decode and encoding/json disagree:\n%+v\n%+v", got, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", ``, "invalid JSON at offset 0: unexpected end of input"},
		{"not JSON", `kind: Event`, "invalid JSON at offset 0"},
		{"truncated", `{"kind":"Event","verb":"get"`, "invalid JSON at offset 28: unexpected end of input in object"},
		{"trailing data", `{"verb":"get"} {}`, "invalid JSON at offset 15: unexpected data after top-level value"},
		{"bad escape", `{"verb":"g\qet"}`, `invalid escape 'q'`},
		{"control char", "{\"verb\":\"g\x01\"}", "control character in string"},
		{"array", `[1,2]`, "not a JSON object"},
		{"verb type", `{"verb":5}`, "verb: want string, got number"},
		{"groups type", `{"user":{"groups":"a"}}`, "user.groups: want array, got string"},
		{"group item type", `{"user":{"groups":["a",1]}}`, "user.groups[1]: want string, got number"},
		{"timestamp", `{"stageTimestamp":"yesterday"}`, `stageTimestamp: "yesterday" is not an RFC 3339 time`},
		{"code", `{"responseStatus":{"code":"200"}}`, "responseStatus.code: want number, got string"},
		{"code range", `{"responseStatus":{"code":1e3}}`, "responseStatus.code: 1e3 is not a 32-bit integer"},
		{"kind", `{"kind":"Pod"}`, `kind: "Pod" is not Event`},
		{"annotation type", `{"annotations":{"a":true}}`, "annotations.a: want string, got boolean"},
		{"deep", strings.Repeat("[", maxDepth+2), "nesting too deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode(%q) succeeded", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeNullsAndUnknownFields(t *testing.T) {
	ev, err := Decode([]byte(`{"verb":null,"objectRef":null,"future":{"x":[1,2,{"y":null}]},"user":{"username":"u","groups":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Verb != "" || ev.ObjectRef != nil || ev.User.Username != "u" || ev.User.Groups != nil {
		t.Errorf("unexpected %+v", ev)
	}
}

func TestDecodeCopiesInput(t *testing.T) {
	buf := []byte(execEvent)
	ev, err := Decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = ' '
	}
	if ev.Verb != "create" || ev.Raw()[0] != '{' {
		t.Error("event shares the caller's buffer")
	}
}

func TestPointer(t *testing.T) {
	ev, err := Decode([]byte(podCreate))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ptr  string
		want string
		ok   bool
	}{
		{"/stage", "ResponseComplete", true},
		{"/requestObject/spec/containers/0/image", "alpine:3.20", true},
		{"/requestObject/spec/containers/1/ports/0/containerPort", "80", true},
		{"/requestObject/spec/containers/0/securityContext", `{"privileged":true}`, true},
		{"/requestObject/metadata/annotations/a~1b", "x", true},
		{"/requestObject/metadata/annotations/c~0d", "y", true},
		{"/requestObject/spec/containers/2", "", false},
		{"/requestObject/spec/containers/01", "", false},
		{"/requestObject/spec/containers/-", "", false},
		{"/nope", "", false},
		{"/stage/x", "", false},
		{"stage", "", false},
		{"/responseStatus/metadata", "{}", true},
	}
	for _, tt := range tests {
		v, ok := ev.Pointer(tt.ptr)
		if ok != tt.ok || (ok && v.Text() != tt.want) {
			t.Errorf("Pointer(%q) = %q, %v; want %q, %v", tt.ptr, v.Text(), ok, tt.want, tt.ok)
		}
	}
	whole, ok := ev.Pointer("")
	if !ok || whole.Kind() != Object || !bytes.Equal(whole, ev.Raw()) {
		t.Errorf("Pointer(\"\") is not the whole event")
	}
}

func TestPointerOnBuiltEvent(t *testing.T) {
	ev := &Event{Verb: "get", ObjectRef: &ObjectReference{Resource: "secrets"}}
	v, ok := ev.Pointer("/objectRef/resource")
	if !ok || v.Text() != "secrets" {
		t.Errorf("Pointer on a built event = %q, %v", v.Text(), ok)
	}
}

func TestValue(t *testing.T) {
	v := Value(` { "s" : "a\"b\u00e9" , "n" : -1.5e3 , "b" : false, "z": null, "arr" : [ 1 , "x" , { "k" : [ ] } ], "o": {"a": 1, "a": 2} } `)
	if !v.Valid() {
		t.Fatal("not valid")
	}
	if k := v.Kind(); k != Object {
		t.Fatalf("kind %v", k)
	}
	if s, ok := mustGet(t, v, "s").Str(); !ok || s != "a\"bé" {
		t.Errorf("s = %q", s)
	}
	if got := mustGet(t, v, "n").Text(); got != "-1.5e3" {
		t.Errorf("n = %q", got)
	}
	if b, ok := mustGet(t, v, "b").Bool(); !ok || b {
		t.Errorf("b = %v %v", b, ok)
	}
	if !mustGet(t, v, "z").IsNull() {
		t.Error("z not null")
	}
	arr := mustGet(t, v, "arr")
	if arr.Len() != 3 || arr.Kind() != Array {
		t.Errorf("arr len %d", arr.Len())
	}
	if got := arr.Text(); got != `[1,"x",{"k":[]}]` {
		t.Errorf("compact text %q", got)
	}
	if e, ok := arr.Index(2); !ok || e.Kind() != Object {
		t.Errorf("Index(2) = %s", e)
	}
	if _, ok := arr.Index(3); ok {
		t.Error("Index(3) found")
	}
	if got := mustGet(t, v, "o").Text(); got != `{"a":1,"a":2}` {
		t.Errorf("o = %q", got)
	}
	if a := mustGet(t, mustGet(t, v, "o"), "a"); a.Text() != "2" {
		t.Errorf("duplicate key: last should win, got %s", a)
	}
	var keys []string
	for k := range v.Members() {
		keys = append(keys, k)
	}
	if strings.Join(keys, ",") != "s,n,b,z,arr,o" {
		t.Errorf("members %v", keys)
	}
	if v.Len() != 6 {
		t.Errorf("object len %d", v.Len())
	}
	if _, ok := v.Path("arr", "x"); ok {
		t.Error("Path into an array by key")
	}
	if got, ok := Value(`{"a":{"b":{"c":"d"}}}`).Path("a", "b", "c"); !ok || got.Text() != "d" {
		t.Errorf("Path = %s", got)
	}
	if got := Value(`"x y"`).Text(); got != "x y" {
		t.Errorf("string text %q", got)
	}
	if got := Value(`{ "k" : "a b" }`).Text(); got != `{"k":"a b"}` {
		t.Errorf("compacted %q", got)
	}
	if (Value(`{"k":"\u00"}`)).Valid() {
		t.Error("short \\u escape accepted")
	}
	// An escaped key still matches.
	if got, ok := Value(`{"\u0076erb":"get"}`).Get("verb"); !ok || got.Text() != "get" {
		t.Errorf("escaped key: %s %v", got, ok)
	}
}

func mustGet(t *testing.T, v Value, key string) Value {
	t.Helper()
	got, ok := v.Get(key)
	if !ok {
		t.Fatalf("no member %q in %s", key, v)
	}
	return got
}

func TestValueMalformedDoesNotPanic(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a"`, `{"a":`, `[1,`, `"abc`, `{"a":1,}`, `[}`, `nul`, `{"a":[1,2}`, `\`, `{"\`} {
		v := Value(in)
		v.Kind()
		v.Get("a")
		v.Index(0)
		v.Len()
		v.Text()
		v.Str()
		v.Pointer("/a/0")
		for range v.Members() {
		}
		for range v.Elements() {
		}
		if v.Valid() {
			t.Errorf("%q reported valid", in)
		}
	}
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`0`, `-0`, `01`, `1.`, `.5`, `1e5`, `1E+5`, `1e`, `-`, `"\/"`, `"\u12"`, `[1 2]`, `{"a" 1}`, `{1:2}`,
		`  true `, `tru`, `[]`, `{}`, `[,]`, `{"a":1,}`, "\"\t\"", `"é"`, "\"\xff\"", `1 2`, `nulll`,
	} {
		if got, want := Value(in).Valid(), json.Valid([]byte(in)); got != want {
			t.Errorf("Valid(%q) = %v, encoding/json says %v", in, got, want)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	ev, err := Decode([]byte(podCreate))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ev.MarshalJSON()
	if err != nil || !bytes.Equal(raw, bytes.TrimSpace([]byte(podCreate))) {
		t.Error("MarshalJSON does not return the raw event")
	}
	// encoding/json compacts what a Marshaler returns.
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(podCreate)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, compact.Bytes()) {
		t.Errorf("json.Marshal = %s", out)
	}
	var back Event
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if back.AuditID != ev.AuditID || Value(back.RequestObject).Text() != Value(ev.RequestObject).Text() {
		t.Error("round trip lost fields")
	}
	built := &Event{Verb: "get", AuditID: "x"}
	out, err = json.Marshal(built)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"verb":"get"`) {
		t.Errorf("built event marshals to %s", out)
	}
}

func TestDecodeList(t *testing.T) {
	list := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + execEvent + `,` + podCreate + `]}`
	evs, err := DecodeList([]byte(list))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Verb != "create" || evs[1].Level != "RequestResponse" {
		t.Fatalf("got %d events", len(evs))
	}
	if v, ok := evs[1].Pointer("/requestObject/spec/containers/0/image"); !ok || v.Text() != "alpine:3.20" {
		t.Errorf("list item pointer: %s", v)
	}
	one, err := DecodeList([]byte(execEvent))
	if err != nil || len(one) != 1 {
		t.Errorf("single event as list: %v %d", err, len(one))
	}
	empty, err := DecodeList([]byte(`{"kind":"EventList","items":null}`))
	if err != nil || len(empty) != 0 {
		t.Errorf("empty list: %v %d", err, len(empty))
	}
	_, err = DecodeList([]byte(`{"kind":"EventList","items":[{"verb":"get"},{"verb":7}]}`))
	if err == nil || err.Error() != "items[1]: verb: want string, got number" {
		t.Errorf("bad item error: %v", err)
	}
	_, err = DecodeList([]byte(`{"kind":"EventList","items":{}}`))
	if err == nil || !strings.Contains(err.Error(), "items: want array") {
		t.Errorf("items not array: %v", err)
	}
}

func TestLineReader(t *testing.T) {
	in := strings.Join([]string{
		execEvent,
		"",
		`{"kind":"EventList","items":[{"auditID":"l1"},{"auditID":"l2"}]}`,
		`{"auditID":"bad",`,
		`{"auditID":"after-bad","verb":"get"}`,
		"   ",
		`{"auditID":"no-newline"}`,
	}, "\n")
	lr := NewLineReader(strings.NewReader(in), "audit.log")
	var ids []string
	var errs []string
	for {
		ev, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a LineError", err)
			}
			errs = append(errs, err.Error())
			continue
		}
		ids = append(ids, ev.AuditID)
	}
	if got := strings.Join(ids, " "); got != "0f1e2d3c-4b5a-4697-8877-665544332211 l1 l2 after-bad no-newline" {
		t.Errorf("ids = %s", got)
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "audit.log:4: invalid JSON at offset 17: expected object key string") {
		t.Errorf("errors = %q", errs)
	}
	if _, err := lr.Next(); err != io.EOF {
		t.Errorf("after EOF: %v", err)
	}
}

func TestLineReaderCRLFAndLongLine(t *testing.T) {
	long := `{"auditID":"` + strings.Repeat("x", MaxLineSize) + `"}`
	in := `{"auditID":"a"}` + "\r\n" + long + "\n" + `{"auditID":"b"}` + "\n"
	lr := NewLineReader(strings.NewReader(in), "")
	ev, err := lr.Next()
	if err != nil || ev.AuditID != "a" {
		t.Fatalf("first: %v %v", ev, err)
	}
	_, err = lr.Next()
	if err == nil || !strings.HasPrefix(err.Error(), "line 2: line longer than") {
		t.Fatalf("long line: %v", err)
	}
	ev, err = lr.Next()
	if err != nil || ev.AuditID != "b" || lr.Line() != 3 {
		t.Fatalf("after long line: %v %v line %d", ev, err, lr.Line())
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestLineReaderReadError(t *testing.T) {
	lr := NewLineReader(failingReader{}, "f")
	_, err := lr.Next()
	if err == nil || err.Error() != "f:1: disk on fire" {
		t.Errorf("read error: %v", err)
	}
	if _, err2 := lr.Next(); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("read errors are sticky: %v", err2)
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct{ name, in string }{{"metadata", execEvent}, {"request-response", podCreate}} {
		b.Run(bc.name, func(b *testing.B) {
			data := []byte(bc.in)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestDecodeBatch(t *testing.T) {
	body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + execEvent + `, {"verb": 42}, "x", ` + podCreate + `]}`
	evs, bad, err := DecodeBatch([]byte("  " + body + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Verb != "create" || evs[1].ObjectRef == nil || evs[1].ObjectRef.Resource != "pods" {
		t.Fatalf("events %+v", evs)
	}
	if len(bad) != 2 || bad[0].Index != 1 || bad[1].Index != 2 || !strings.Contains(bad[0].Error(), "items[1]: verb") {
		t.Fatalf("bad items %v", bad)
	}
	// The raw events are the items, byte for byte.
	if string(evs[0].Raw()) != strings.TrimSpace(execEvent) {
		t.Errorf("raw %s", evs[0].Raw())
	}
	for body, want := range map[string]string{
		`{"kind":"EventList","items":[}`: "invalid JSON",
		`[` + execEvent + `]`:            "JSON array, not an EventList",
		`{"kind":"Pod"}`:                 `kind "Pod"`,
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1"}`: "audit.k8s.io/v1beta1",
		`{"kind":"EventList","items":{}}`:                          "items is a JSON object",
	} {
		if _, _, err := DecodeBatch([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", body, err, want)
		}
	}
	if evs, bad, err := DecodeBatch([]byte(`{"kind":"EventList","items":null}`)); err != nil || len(evs)+len(bad) != 0 {
		t.Errorf("null items: %v %v %v", evs, bad, err)
	}
	if evs, _, err := DecodeBatch([]byte(execEvent)); err != nil || len(evs) != 1 {
		t.Errorf("a single event: %v %v", evs, err)
	}
}
