package admission

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bulwark-k8s/bulwark/internal/policy"
)

// maxErrorText bounds the evaluation error quoted in a response.
const maxErrorText = 512

// validate judges one request.
func (h *Handler) validate(ctx context.Context, in *incoming) (*admissionv1.AdmissionResponse, string) {
	t := targetOf(in.request)
	if h.exempt(t) {
		return &admissionv1.AdmissionResponse{Allowed: true}, DecisionExempt
	}
	if beingDeleted(in.operation, in.request) {
		return &admissionv1.AdmissionResponse{Allowed: true}, DecisionAllowed
	}
	log := h.log.With("uid", in.uid, "operation", in.operation, "kind", t.kind, "namespace", t.namespace, "name", t.name,
		"user", str(obj(in.request, "userInfo"), "username"))
	if t.subResource != "" {
		log = log.With("subresource", t.subResource)
	}
	if in.operation == "CONNECT" && t.resource == "pods" && (t.subResource == "exec" || t.subResource == "attach") && h.opts.Pods != nil {
		found, err := h.opts.Pods.EnsurePod(ctx, t.namespace, t.name)
		if err != nil {
			return h.failed(log, nil, fmt.Errorf("load pod %s/%s: %w", t.namespace, t.name, err))
		}
		if !found {
			// The API server answers 404 itself; nothing to judge.
			log.Debug("connect_pod_not_found")
			return &admissionv1.AdmissionResponse{Allowed: true}, DecisionAllowed
		}
	}
	req, err := policy.AdmissionRequest(in.request)
	if err != nil {
		// Nothing to review (a CONNECT without options, a DELETE of a
		// collection): there is no object for a policy to judge.
		log.Debug("nothing_to_review", "reason", err)
		return &admissionv1.AdmissionResponse{Allowed: true}, DecisionAllowed
	}
	req.NamespaceLabels = h.opts.Engine.NamespaceLabels(t.namespace)
	results, err := h.review(ctx, req)
	v := h.verdict(results)
	if err != nil {
		return h.failed(log, v, err)
	}
	return h.respond(log, v)
}

// review runs the engine within ctx's deadline. An engine that overruns it
// (or panics) is an error, not a late or missing answer.
func (h *Handler) review(ctx context.Context, req *policy.Request) ([]policy.Result, error) {
	type outcome struct {
		res []policy.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				h.log.Error("review_panic", "panic", p, "stack", string(debug.Stack()))
				done <- outcome{err: fmt.Errorf("policy evaluation panicked: %v", p)}
			}
		}()
		res, _, err := h.opts.Engine.ReviewRequest(ctx, req)
		done <- outcome{res: res, err: err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-ctx.Done():
		return nil, fmt.Errorf("policy evaluation did not finish within the webhook's deadline: %w", ctx.Err())
	}
}

// verdict is what the results of one review mean.
type verdict struct {
	deny, warn []string
	// checks are the IDs of every violated check, for the audit
	// annotation and the log.
	checks []string
}

// verdict sorts results into denials, warnings and dry runs, counting
// each, and leaves out scan-only checks.
func (h *Handler) verdict(results []policy.Result) *verdict {
	v := &verdict{}
	seen := map[string]bool{}
	checks := map[string]bool{}
	sort.SliceStable(results, func(i, j int) bool {
		return results[i].Constraint.Check.ID < results[j].Constraint.Check.ID
	})
	for _, r := range results {
		ch := r.Constraint.Check
		if h.scanOnly[ch.ID] || ch.Scope == "scan" {
			continue
		}
		msg := Message(r)
		if seen[r.EnforcementAction+msg] {
			continue
		}
		seen[r.EnforcementAction+msg] = true
		h.metrics.violations.WithLabelValues(ch.ID, r.EnforcementAction).Inc()
		if !checks[ch.ID] {
			checks[ch.ID] = true
			v.checks = append(v.checks, ch.ID)
		}
		switch r.EnforcementAction {
		case policy.ActionDeny:
			v.deny = append(v.deny, msg)
		case policy.ActionWarn:
			v.warn = append(v.warn, msg)
		default:
			h.log.Info("dryrun_violation", "check", ch.ID, "message", msg)
		}
	}
	return v
}

// Message is how a violation reads at admission: the check ID and its
// requirements, then the policy's message, and where a workload's pod
// template holds the violation.
func Message(r policy.Result) string {
	ch := r.Constraint.Check
	msg := r.Msg
	if r.Implied {
		msg += " (in the pod template at " + r.TemplatePath + ")"
	}
	return "[" + ch.ID + " " + strings.Join(ch.Requirements, ",") + "] " + msg
}

func (h *Handler) respond(log *slog.Logger, v *verdict) (*admissionv1.AdmissionResponse, string) {
	resp := &admissionv1.AdmissionResponse{Allowed: true, Warnings: v.warn}
	if len(v.checks) > 0 {
		resp.AuditAnnotations = map[string]string{"violations": strings.Join(v.checks, ",")}
	}
	if len(v.deny) > 0 {
		resp.Allowed = false
		resp.Result = &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReasonForbidden,
			Message: strings.Join(v.deny, "\n"),
		}
		log.Info("request_denied", "checks", strings.Join(v.checks, ","))
		return resp, DecisionDenied
	}
	if len(v.warn) > 0 {
		return resp, DecisionWarned
	}
	return resp, DecisionAllowed
}

// failed answers a review that could not be completed. Violations found
// before the error still deny; otherwise the failure policy decides.
func (h *Handler) failed(log *slog.Logger, v *verdict, err error) (*admissionv1.AdmissionResponse, string) {
	fp := h.opts.FailurePolicy
	h.metrics.errors.WithLabelValues("validate", string(fp)).Inc()
	log.Error("review_failed", "failure_policy", fp, "error", err)
	if v == nil {
		v = &verdict{}
	}
	if len(v.deny) > 0 {
		resp, _ := h.respond(log, v)
		return resp, DecisionError
	}
	text := err.Error()
	if len(text) > maxErrorText {
		text = text[:maxErrorText] + "..."
	}
	if fp == Fail {
		return &admissionv1.AdmissionResponse{
			Allowed:  false,
			Warnings: v.warn,
			Result: &metav1.Status{
				Status:  metav1.StatusFailure,
				Code:    http.StatusInternalServerError,
				Reason:  metav1.StatusReasonInternalError,
				Message: "bulwark could not evaluate this request and refuses it (failure policy Fail): " + text,
			},
		}, DecisionError
	}
	warn := append(v.warn, "bulwark could not evaluate every policy and admitted this request (failure policy Ignore): "+text)
	return &admissionv1.AdmissionResponse{Allowed: true, Warnings: warn}, DecisionError
}
