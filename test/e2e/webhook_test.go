//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/bulwark-k8s/bulwark/test/e2e/cluster"
)

// review is what the recording admission webhook keeps of one
// AdmissionReview request.
type review struct {
	Operation   admissionv1.Operation
	Resource    metav1.GroupVersionResource
	SubResource string
	Kind        metav1.GroupVersionKind
	RequestKind *metav1.GroupVersionKind
	ObjectKind  string // apiVersion/kind inside request.object
	Name        string
	Namespace   string
	User        string
}

func (r review) String() string {
	return fmt.Sprintf("operation=%s resource=%s/%s/%s subResource=%s kind=%s/%s/%s object=%s name=%s/%s user=%s",
		r.Operation, r.Resource.Group, r.Resource.Version, r.Resource.Resource, r.SubResource,
		r.Kind.Group, r.Kind.Version, r.Kind.Kind, r.ObjectKind, r.Namespace, r.Name, r.User)
}

// attachDenied is the message the recorder denies pods/attach with.
const attachDenied = "bulwark-e2e: attach is not allowed"

// recorder is a validating admission webhook that records every review,
// allows everything but pods/attach, and denies that with attachDenied.
type recorder struct {
	mu      sync.Mutex
	reviews []review
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Request == nil {
		http.Error(w, fmt.Sprintf("decode AdmissionReview: %v", err), http.StatusBadRequest)
		return
	}
	req := in.Request
	var obj metav1.TypeMeta
	_ = json.Unmarshal(req.Object.Raw, &obj)
	rec.mu.Lock()
	rec.reviews = append(rec.reviews, review{
		Operation:   req.Operation,
		Resource:    req.Resource,
		SubResource: req.SubResource,
		Kind:        req.Kind,
		RequestKind: req.RequestKind,
		ObjectKind:  obj.APIVersion + "/" + obj.Kind,
		Name:        req.Name,
		Namespace:   req.Namespace,
		User:        req.UserInfo.Username,
	})
	rec.mu.Unlock()
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.SubResource == "attach" {
		resp.Allowed = false
		resp.Result = &metav1.Status{Message: attachDenied, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden}
	}
	out := admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: resp}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// find returns the first recorded review with subResource sub.
func (rec *recorder) find(sub string) (review, error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if i := slices.IndexFunc(rec.reviews, func(r review) bool { return r.SubResource == sub }); i >= 0 {
		return rec.reviews[i], nil
	}
	return review{}, errNotYet("no AdmissionReview for subresource " + sub + " yet")
}

// auditSink is an audit webhook backend: it keeps every event of every
// EventList the apiserver posts, and the lists' apiVersion and kind.
type auditSink struct {
	mu     sync.Mutex
	types  map[string]int // "apiVersion/kind" of posted lists → count
	events []auditv1.Event
}

func (s *auditSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var list auditv1.EventList
	if err := json.NewDecoder(r.Body).Decode(&list); err != nil {
		http.Error(w, fmt.Sprintf("decode EventList: %v", err), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.types[list.APIVersion+"/"+list.Kind]++
	s.events = append(s.events, list.Items...)
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// find returns the first event on pods/sub.
func (s *auditSink) find(sub string) (auditv1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.ObjectRef != nil && e.ObjectRef.Resource == "pods" && e.ObjectRef.Subresource == sub {
			return e, nil
		}
	}
	return auditv1.Event{}, errNotYet(fmt.Sprintf("no audit event for pods/%s among %d yet", sub, len(s.events)))
}

// auditPolicy logs every request at RequestResponse except events.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  resources:
  - group: ""
    resources: ["events"]
  - group: events.k8s.io
    resources: ["events"]
- level: RequestResponse
`

// webhookConfiguration registers url for CONNECT on pods/exec and
// pods/attach and UPDATE on pods/ephemeralcontainers.
func webhookConfiguration(url string, caPEM []byte) string {
	return `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: bulwark-e2e-recorder
webhooks:
- name: recorder.e2e.bulwark.dev
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  clientConfig:
    url: ` + url + `/validate
    caBundle: ` + base64.StdEncoding.EncodeToString(caPEM) + `
  rules:
  - operations: ["CONNECT"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods/exec", "pods/attach"]
  - operations: ["UPDATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods/ephemeralcontainers"]
`
}

// TestWebhooks configures an admission webhook and an audit webhook the way
// a real cluster does, both HTTPS with a CA of their own, and shows what the
// apiserver sends them for kubectl exec, attach and debug.
func TestWebhooks(t *testing.T) {
	ctx := t.Context()
	rec := &recorder{}
	hook := cluster.ServeTLS(t, rec)
	sink := &auditSink{types: map[string]int{}}
	auditSrv := cluster.ServeTLS(t, sink)

	dir := t.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	auditConfig := filepath.Join(dir, "audit-webhook.kubeconfig")
	if err := cluster.WriteWebhookKubeconfig(auditConfig, auditSrv.URL, auditSrv.CAPEM); err != nil {
		t.Fatal(err)
	}
	c := cluster.Start(ctx, t, cluster.Options{
		AuditPolicyFile:          policy,
		AuditWebhookConfigFile:   auditConfig,
		AuditWebhookBatchMaxWait: time.Second,
	})

	const ns = "hooks"
	if err := c.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, podManifest(ns, "target")); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, webhookConfiguration(hook.URL, hook.CAPEM)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		// wantErr is in kubectl's stderr; empty means kubectl succeeds.
		wantErr string
		want    review
	}{
		{
			name: "exec",
			args: []string{"exec", "-n", ns, "target", "-c", "app", "--", "true"},
			// Allowed by the webhook, then refused: no node runs the pod.
			wantErr: "does not have a host assigned",
			want: review{
				Operation:   admissionv1.Connect,
				Resource:    metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
				SubResource: "exec",
				Kind:        metav1.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"},
			},
		},
		{
			name:    "attach",
			args:    []string{"attach", "-n", ns, "target", "-c", "app"},
			wantErr: attachDenied,
			want: review{
				Operation:   admissionv1.Connect,
				Resource:    metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
				SubResource: "attach",
				Kind:        metav1.GroupVersionKind{Version: "v1", Kind: "PodAttachOptions"},
			},
		},
		{
			name: "debug adds an ephemeral container",
			args: []string{"debug", "-n", ns, "target", "--image=busybox:1.36", "--container=debugger", "--profile=general"},
			want: review{
				Operation:   admissionv1.Update,
				Resource:    metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
				SubResource: "ephemeralcontainers",
				Kind:        metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The apiserver picks up the new webhook configuration from an
			// informer: retry until the webhook has been called.
			var got review
			err := cluster.Eventually(ctx, 30*time.Second, 500*time.Millisecond, func(ctx context.Context) error {
				_, stderr, err := c.Kubectl(ctx, tt.args...)
				switch {
				case tt.wantErr == "" && err != nil:
					return err
				case tt.wantErr != "" && !strings.Contains(stderr, tt.wantErr):
					return fmt.Errorf("kubectl %s: err = %v, stderr = %q, want %q", strings.Join(tt.args, " "), err, stderr, tt.wantErr)
				}
				got, err = rec.find(tt.want.SubResource)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("AdmissionReview for kubectl %s: %s", tt.args[0], got)
			if got.Operation != tt.want.Operation || got.Resource != tt.want.Resource ||
				got.SubResource != tt.want.SubResource || got.Kind != tt.want.Kind {
				t.Errorf("AdmissionReview = %s\nwant %s", got, tt.want)
			}
			if got.Name != "target" || got.Namespace != ns || got.User != cluster.AdminUser {
				t.Errorf("AdmissionReview names %s/%s by %s, want %s/target by %s", got.Namespace, got.Name, got.User, ns, cluster.AdminUser)
			}
		})
	}

	rec.mu.Lock()
	for _, r := range rec.reviews {
		t.Logf("AdmissionReview received: %s", r)
	}
	rec.mu.Unlock()

	t.Run("ephemeral container stored", func(t *testing.T) {
		out, _, err := c.Kubectl(ctx, "get", "pod", "target", "-n", ns, "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var p corev1.Pod
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("decode pod: %v", err)
		}
		if len(p.Spec.EphemeralContainers) != 1 || p.Spec.EphemeralContainers[0].Name != "debugger" {
			t.Fatalf("pod %s/target ephemeral containers = %+v, want one named debugger", ns, p.Spec.EphemeralContainers)
		}
	})

	t.Run("audit webhook receives pods/exec", func(t *testing.T) {
		var ev auditv1.Event
		err := cluster.Eventually(ctx, 30*time.Second, 250*time.Millisecond, func(context.Context) error {
			var err error
			ev, err = sink.find("exec")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		sink.mu.Lock()
		types := fmt.Sprint(sink.types)
		for _, e := range sink.events {
			if e.ObjectRef != nil && e.ObjectRef.Resource == "pods" && e.ObjectRef.Subresource != "" {
				t.Logf("audit event: verb=%s resource=pods/%s stage=%s level=%s uri=%s user=%s code=%d",
					e.Verb, e.ObjectRef.Subresource, e.Stage, e.Level, e.RequestURI, e.User.Username, responseCode(e))
			}
		}
		sink.mu.Unlock()
		t.Logf("audit lists posted: %s", types)
		if !strings.Contains(types, "audit.k8s.io/v1/EventList") {
			t.Errorf("audit webhook got lists %s, want audit.k8s.io/v1 EventList", types)
		}
		if ev.ObjectRef.Namespace != ns || ev.ObjectRef.Name != "target" || ev.User.Username != cluster.AdminUser {
			t.Errorf("pods/exec audit event is about %s/%s by %s, want %s/target by %s",
				ev.ObjectRef.Namespace, ev.ObjectRef.Name, ev.User.Username, ns, cluster.AdminUser)
		}
		if ev.Level != "RequestResponse" {
			t.Errorf("pods/exec audit event level = %s, want RequestResponse", ev.Level)
		}
	})
}

// responseCode is the event's HTTP status, or 0 when it has none.
func responseCode(ev auditv1.Event) int32 {
	if ev.ResponseStatus == nil {
		return 0
	}
	return ev.ResponseStatus.Code
}
