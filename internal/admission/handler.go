package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bulwark-k8s/bulwark/internal/policy"
)

// GCPercent is the garbage collector's target of bulwark serve unless GOGC
// says otherwise: a review allocates about 170 KB, and collecting less
// often saves about a sixth of a review's CPU. In a cluster, the
// Deployment sets GOMEMLIMIT from the container's limit, which bounds the
// heap whatever this target. The load benchmarks use it too.
const GCPercent = 300

// Paths the handlers are mounted on.
const (
	ValidatePath = "/validate"
	MutatePath   = "/mutate"
)

// DefaultMaxBodyBytes bounds an AdmissionReview's body. The API server
// refuses objects over 3 MiB in etcd; an UPDATE carries two of them.
const DefaultMaxBodyBytes = 8 << 20

// DefaultTimeout is the webhook timeout assumed when the request does not
// say (the API server sends it as the timeout query parameter); it is the
// API server's default timeoutSeconds.
const DefaultTimeout = 10 * time.Second

// FailurePolicy is what the validating webhook answers when it cannot
// evaluate a request: Ignore admits it, Fail denies it. Either way the
// error is logged and counted.
type FailurePolicy string

// Failure policies, spelled as in a webhook configuration.
const (
	Ignore FailurePolicy = "Ignore"
	Fail   FailurePolicy = "Fail"
)

// ParseFailurePolicy reads "ignore" or "fail", in any case.
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch strings.ToLower(s) {
	case "ignore":
		return Ignore, nil
	case "fail":
		return Fail, nil
	}
	return "", fmt.Errorf("failure policy %q is not one of ignore, fail", s)
}

// Reviewer judges admission requests; *policy.Engine is one.
type Reviewer interface {
	ReviewRequest(ctx context.Context, r *policy.Request) ([]policy.Result, []*policy.Constraint, error)
	NamespaceLabels(ns string) map[string]string
}

var _ Reviewer = (*policy.Engine)(nil)

// PodLoader makes sure a pod is in the engine's inventory before a CONNECT
// review (exec, attach) reads it there. It reports whether the pod exists.
type PodLoader interface {
	EnsurePod(ctx context.Context, namespace, name string) (bool, error)
}

// Options configure a Handler.
type Options struct {
	// Engine reviews every request. Required.
	Engine Reviewer
	// FailurePolicy applies when a review cannot be completed (an
	// evaluation error, the deadline); empty means Ignore.
	FailurePolicy FailurePolicy
	// ExemptNamespaces are never reviewed nor mutated (names, or globs
	// with '*' at either end). Requests for a Namespace object are exempt
	// when the Namespace's own name is.
	ExemptNamespaces []string
	// ScanOnly are check IDs not enforced at admission; their violations
	// are left to the background audit. Constraints whose check has scope
	// "scan" are scan-only too. Nil means DefaultScanOnly.
	ScanOnly []string
	// Mutation chooses what /mutate changes.
	Mutation Mutation
	// DefaultTimeout is the webhook timeout when the request does not
	// carry one; zero means DefaultTimeout.
	DefaultTimeout time.Duration
	// MaxBodyBytes bounds a request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Pods loads the target pod of exec and attach requests into the
	// inventory when it is not there yet; nil leaves the inventory as it
	// is (BW-K8S-006 then judges only pods already in it).
	Pods PodLoader
	// Metrics receives the handler's measurements; nil keeps them on a
	// registry of the handler's own.
	Metrics *Metrics
	Logger  *slog.Logger
}

// DefaultScanOnly are the library checks that cannot be enforced at
// admission: a Namespace cannot hold its default-deny NetworkPolicy before
// it exists, so BW-K8S-028 would refuse every new namespace.
func DefaultScanOnly() []string { return []string{"BW-K8S-028"} }

// Handler serves /validate and /mutate. It is safe for concurrent use.
type Handler struct {
	opts     Options
	log      *slog.Logger
	metrics  *Metrics
	scanOnly map[string]bool
}

// NewHandler returns a handler for opts.
func NewHandler(opts Options) *Handler {
	if opts.FailurePolicy == "" {
		opts.FailurePolicy = Ignore
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = DefaultTimeout
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.ScanOnly == nil {
		opts.ScanOnly = DefaultScanOnly()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{opts: opts, log: log.With("component", "admission"), metrics: opts.Metrics, scanOnly: map[string]bool{}}
	for _, id := range opts.ScanOnly {
		h.scanOnly[id] = true
	}
	return h
}

// Register mounts /validate and /mutate on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle(ValidatePath, h)
	mux.Handle(MutatePath, h)
}

// ServeHTTP answers POSTed AdmissionReviews on /validate and /mutate.
// Malformed reviews get HTTP 400 (413 when too large); a well-formed review
// always gets an AdmissionReview back, inside its timeout.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var webhook string
	switch r.URL.Path {
	case ValidatePath:
		webhook = "validate"
	case MutatePath:
		webhook = "mutate"
	default:
		http.NotFound(w, r)
		return
	}
	start := time.Now()
	defer func() { h.metrics.duration.WithLabelValues(webhook).Observe(time.Since(start).Seconds()) }()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.badRequest(w, webhook, http.StatusMethodNotAllowed, "admission reviews are POSTed")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
		h.badRequest(w, webhook, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q is not JSON", ct))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.badRequest(w, webhook, http.StatusRequestEntityTooLarge, fmt.Sprintf("AdmissionReview is larger than %d bytes", h.opts.MaxBodyBytes))
			return
		}
		h.badRequest(w, webhook, http.StatusBadRequest, "read AdmissionReview: "+err.Error())
		return
	}
	in, err := decodeReview(body)
	if err != nil {
		h.badRequest(w, webhook, http.StatusBadRequest, err.Error())
		return
	}
	timeout := requestTimeout(r, h.opts.DefaultTimeout)
	ctx, cancel := context.WithTimeout(r.Context(), evaluationBudget(timeout))
	defer cancel()
	var resp *admissionv1.AdmissionResponse
	var decision string
	if webhook == "validate" {
		resp, decision = h.validate(ctx, in)
	} else {
		resp, decision = h.mutate(ctx, in)
	}
	resp.UID = types.UID(in.uid)
	h.metrics.requests.WithLabelValues(webhook, in.operation, decision).Inc()
	out, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: in.apiVersion, Kind: in.kind},
		Response: resp,
	})
	if err != nil { // only unencodable warnings or messages could cause it
		h.log.Error("encode_response_failed", "uid", in.uid, "error", err)
		h.badRequest(w, webhook, http.StatusInternalServerError, "encode AdmissionReview response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func (h *Handler) badRequest(w http.ResponseWriter, webhook string, code int, msg string) {
	h.metrics.requests.WithLabelValues(webhook, "", DecisionBadInput).Inc()
	h.log.Warn("bad_admission_request", "webhook", webhook, "status", code, "reason", msg)
	http.Error(w, msg, code)
}

// incoming is a decoded AdmissionReview request.
type incoming struct {
	apiVersion, kind string
	uid              string
	operation        string
	// request is the AdmissionRequest as JSON values (numbers as
	// json.Number), as the engine's input.review takes it.
	request map[string]any
}

// decodeReview reads an admission.k8s.io/v1 AdmissionReview and checks
// what every answer needs: the version and a request with a uid.
func decodeReview(body []byte) (*incoming, error) {
	var env struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Request    map[string]any `json:"request"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("decode AdmissionReview: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode AdmissionReview: data after the review")
	}
	if env.APIVersion != admissionv1.SchemeGroupVersion.String() || env.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("apiVersion/kind is %q/%q; want %s/AdmissionReview (set admissionReviewVersions: [v1])",
			env.APIVersion, env.Kind, admissionv1.SchemeGroupVersion)
	}
	if env.Request == nil {
		return nil, errors.New("AdmissionReview has no request")
	}
	uid, _ := env.Request["uid"].(string)
	if uid == "" {
		return nil, errors.New("AdmissionReview request has no uid")
	}
	for _, k := range []string{"kind", "resource", "userInfo"} {
		if v, ok := env.Request[k]; ok && v != nil {
			if _, isObj := v.(map[string]any); !isObj {
				return nil, fmt.Errorf("AdmissionReview request.%s is not an object", k)
			}
		}
	}
	for _, k := range []string{"object", "oldObject"} {
		if v, ok := env.Request[k]; ok && v != nil {
			if _, isObj := v.(map[string]any); !isObj {
				return nil, fmt.Errorf("AdmissionReview request.%s is not an object", k)
			}
		}
	}
	op, _ := env.Request["operation"].(string)
	switch op {
	case "CREATE", "UPDATE", "DELETE", "CONNECT":
	default:
		return nil, fmt.Errorf("AdmissionReview request.operation %q is not one of CREATE, UPDATE, DELETE, CONNECT", op)
	}
	return &incoming{apiVersion: env.APIVersion, kind: env.Kind, uid: uid, operation: op, request: env.Request}, nil
}

// requestTimeout is the webhook's timeout: the API server passes
// timeoutSeconds as the timeout query parameter ("10s").
func requestTimeout(r *http.Request, def time.Duration) time.Duration {
	if s := r.URL.Query().Get("timeout"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d
		}
	}
	return def
}

// evaluationBudget is how long evaluation may take so that the answer,
// written after it, still arrives within timeout: a tenth of it is kept
// for the rest, at least 50ms and at most one second.
func evaluationBudget(timeout time.Duration) time.Duration {
	margin := min(max(timeout/10, 50*time.Millisecond), time.Second)
	if timeout-margin < timeout/2 {
		return timeout / 2
	}
	return timeout - margin
}

// str reads a string field of a JSON object.
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func obj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

// target describes what a request is about, for exemption and logs.
type target struct {
	group, kind string
	namespace   string
	name        string
	resource    string
	subResource string
}

func targetOf(req map[string]any) target {
	k := obj(req, "kind")
	t := target{
		group:       str(k, "group"),
		kind:        str(k, "kind"),
		namespace:   str(req, "namespace"),
		name:        str(req, "name"),
		resource:    str(obj(req, "resource"), "resource"),
		subResource: str(req, "subResource"),
	}
	if t.name == "" {
		if md := obj(obj(req, "object"), "metadata"); md != nil {
			t.name = str(md, "name")
			if t.name == "" {
				t.name = str(md, "generateName")
			}
		}
	}
	return t
}

// exempt reports whether the request's namespace (or, for a Namespace, its
// name) is exempt.
func (h *Handler) exempt(t target) bool {
	ns := t.namespace
	if t.group == "" && t.kind == "Namespace" {
		ns = t.name
	}
	if ns == "" {
		return false
	}
	for _, p := range h.opts.ExemptNamespaces {
		if policy.Wildcard(p, ns) {
			return true
		}
	}
	return false
}

// ExemptNamespace reports whether namespace ns is exempt.
func (h *Handler) ExemptNamespace(ns string) bool { return h.exempt(target{namespace: ns}) }

// beingDeleted reports an UPDATE of an object that already has a deletion
// timestamp: removing its finalizers must not be refused, or it would
// never go away.
func beingDeleted(op string, req map[string]any) bool {
	if op != "UPDATE" {
		return false
	}
	return obj(obj(req, "object"), "metadata")["deletionTimestamp"] != nil
}
