package admission

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// FuzzHandler sends arbitrary bodies to /validate and /mutate: the answer
// is a 4xx status or a well-formed AdmissionReview with the request's uid,
// never a panic or a 5xx.
func FuzzHandler(f *testing.F) {
	f.Add(podBody(f, "CREATE", "production", "centos", decode(f, centosPod)), false)
	f.Add(podBody(f, "CREATE", "production", "web", decode(f, compliantPod)), true)
	f.Add(reviewBody(f, "CONNECT", "", "v1", "PodExecOptions", "pods", "exec", "ops", "p",
		map[string]any{"kind": "PodExecOptions", "apiVersion": "v1", "command": []any{"sh"}}, nil), false)
	f.Add(reviewBody(f, "DELETE", "", "v1", "Pod", "pods", "", "production", "centos", nil, decode(f, centosPod)), false)
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1"}}`), false)
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), true)
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"Pod"},"object":{"kind":"Pod","apiVersion":"v1","spec":{"containers":[{"image":7}]}}}}`), false)
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"UPDATE","kind":"Pod","object":null}}`), true)
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","object":{"metadata":{"name":"`+strings.Repeat("a", 1<<16)+`"}}}}`), false)
	f.Add([]byte("\x00{"), true)
	h := NewHandler(Options{
		Engine:           libraryEngine(f),
		Mutation:         Mutation{ImagePullPolicyAlways: true, SecurityContextDefaults: true},
		ExemptNamespaces: []string{"kube-system"},
		MaxBodyBytes:     1 << 20,
	})
	f.Fuzz(func(t *testing.T, body []byte, mutate bool) {
		path := ValidatePath
		if mutate {
			path = MutatePath
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
		if rec.Code >= 400 && rec.Code < 500 {
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("answer is not an AdmissionReview with a response (%v): %s", err, rec.Body)
		}
		var in struct {
			Request struct{ UID string } `json:"request"`
		}
		_ = json.Unmarshal(body, &in)
		if string(out.Response.UID) != in.Request.UID {
			t.Fatalf("answer uid %q, request uid %q", out.Response.UID, in.Request.UID)
		}
		if !out.Response.Allowed && (out.Response.Result == nil || out.Response.Result.Message == "") {
			t.Fatalf("denied without a message: %s", rec.Body)
		}
	})
}
