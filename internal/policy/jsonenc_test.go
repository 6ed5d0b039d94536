package policy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// decodeBoth decodes doc into a fresh *T through appendJSON and through
// json.Marshal, as roundTrip did before appendJSON.
func decodeBoth[T any](t testing.TB, doc any) (fast, std *T, fastErr, stdErr error) {
	t.Helper()
	fast, std = new(T), new(T)
	if js, err := appendJSON(nil, doc); err != nil {
		fastErr = err
	} else {
		fastErr = json.Unmarshal(js, fast)
	}
	if js, err := json.Marshal(doc); err != nil {
		stdErr = err
	} else {
		stdErr = json.Unmarshal(js, std)
	}
	return fast, std, fastErr, stdErr
}

func checkSame[T any](t testing.TB, doc any) {
	t.Helper()
	fast, std, fastErr, stdErr := decodeBoth[T](t, doc)
	if (fastErr != nil) != (stdErr != nil) {
		t.Fatalf("%v: errors differ: %v, json.Marshal: %v", doc, fastErr, stdErr)
	}
	if fastErr == nil && !reflect.DeepEqual(fast, std) {
		t.Fatalf("%v: decoded %+v, json.Marshal decodes %+v", doc, fast, std)
	}
}

func TestAppendJSON(t *testing.T) {
	docs := []string{
		`{"hostPID": true, "hostpid": false, "HOSTPID": true, "containers": [{"name": "a", "image": "x<y>&z\u2028", "ports": [{"containerPort": 80, "hostPort": 8080.0}]}]}`,
		`{"containers": [{"name": "a\u0000\u001f\"\\\n\t\r", "securityContext": {"runAsUser": 1e3, "privileged": null}}], "securityContext": {"sysctls": [{"name": "k", "value": "1"}]}}`,
		`{"containers": [{"name": "a", "resources": {"limits": {"cpu": "500m", "memory": 1024}}}], "overhead": {"cpu": 1.5}}`,
		`{"containers": [{"name": "a", "livenessProbe": {"httpGet": {"port": "http"}}, "readinessProbe": {"tcpSocket": {"port": 8080}}}]}`,
		`{"containers": "not a list"}`,
		`{"containers": [{"ports": [{"containerPort": 1.5}]}]}`,
		`{"containers": [{"ports": [{"containerPort": 99999999999}]}]}`,
		`{"volumes": [{"name": "v", "hostPath": {"path": "/", "type": ""}}], "unknown": {"x": [1, {"y": null}]}}`,
		`{"labels": {"a": "b", "c": 1}, "annotations": {"container.apparmor.security.beta.kubernetes.io/a": "unconfined"}, "creationTimestamp": "2024-01-01T00:00:00Z"}`,
		`{"name": "p", "creationTimestamp": "yesterday"}`,
		`{"ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u", "controller": true}]}`,
	}
	for _, d := range docs {
		dec := json.NewDecoder(bytes.NewReader([]byte(d)))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		checkSame[corev1.PodSpec](t, doc)
		checkSame[metav1.ObjectMeta](t, doc)
	}
	// Values of other types, numbers that are not JSON, bytes that are
	// not UTF-8.
	for _, doc := range []any{
		map[string]any{"hostname": "a\xffb", "subdomain": "\xc3", "nodeName": "ok"},
		map[string]any{"hostname": json.Number("")},
		map[string]any{"hostname": json.Number("1.")},
		map[string]any{"containers": []any{map[string]any{"name": "a", "ports": []any{map[string]any{"containerPort": json.Number("080")}}}}},
		map[string]any{"containers": []any{map[string]any{"name": "a", "ports": []any{map[string]any{"containerPort": json.Number("-0.5e+2")}}}}},
		map[string]any{"nodeSelector": map[string]string{"a": "b"}, "priority": 7, "activeDeadlineSeconds": int64(3), "terminationGracePeriodSeconds": 2.0},
		map[string]any{"containers": []any{map[string]any{"name": "a", "env": []map[string]any{{"name": "x", "value": "y"}}}}},
	} {
		checkSame[corev1.PodSpec](t, doc)
		checkSame[metav1.ObjectMeta](t, doc)
	}
}

func TestValidJSONNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-0": true, "12": true, "1.5": true, "1e3": true, "1E+3": true, "-1.25e-10": true,
		"": false, "-": false, "01": false, "1.": false, ".5": false, "1e": false, "1e+": false, "+1": false, "0x1": false, "1 ": false, "NaN": false,
	} {
		if got := validJSONNumber(s); got != want {
			t.Errorf("validJSONNumber(%q) = %v, want %v", s, got, want)
		}
		if want {
			var v any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				t.Errorf("%q is valid but encoding/json refuses it: %v", s, err)
			}
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add(`{"hostPID": true, "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]}`)
	f.Add(`{"Containers": [{"NAME": "a\u00e9", "securityContext": {"runAsUser": 1e2}}], "containers": []}`)
	f.Fuzz(func(t *testing.T, s string) {
		dec := json.NewDecoder(bytes.NewReader([]byte(s)))
		dec.UseNumber()
		var doc any
		if dec.Decode(&doc) != nil {
			return
		}
		checkSame[corev1.PodSpec](t, doc)
		checkSame[metav1.ObjectMeta](t, doc)
	})
}
