package admission

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// MetricsAuth guards an endpoint such as /metrics the way Kubernetes
// components guard theirs: a bearer token is authenticated with a
// TokenReview and the user authorized with a SubjectAccessReview for a
// get on the path (a non-resource URL), so Prometheus' service account
// needs a ClusterRole granting `nonResourceURLs: ["/metrics"], verbs:
// ["get"]`. A TLS client certificate the server verified against its
// client CA is accepted too. Decisions are cached for TTL.
type MetricsAuth struct {
	client kubernetes.Interface // nil: client certificates only
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]decision
}

type decision struct {
	code    int // http.StatusOK, 401 or 403
	expires time.Time
}

// maxCachedTokens bounds the decision cache; beyond it, it is emptied.
const maxCachedTokens = 1024

// NewMetricsAuth returns the guard. With a nil client only client
// certificates are accepted.
func NewMetricsAuth(client kubernetes.Interface, ttl time.Duration) *MetricsAuth {
	if ttl <= 0 {
		ttl = time.Minute
	}
	return &MetricsAuth{client: client, ttl: ttl, now: time.Now, cache: map[[sha256.Size]byte]decision{}}
}

// Wrap answers 401 to a request without valid credentials and 403 to one
// whose user may not get the request's path.
func (m *MetricsAuth) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			h.ServeHTTP(w, r)
			return
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" || m.client == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark"`)
			http.Error(w, "a bearer token (or a client certificate) is required", http.StatusUnauthorized)
			return
		}
		switch code := m.decide(r.Context(), token, r.URL.Path); code {
		case http.StatusOK:
			h.ServeHTTP(w, r)
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark"`)
			http.Error(w, "the bearer token is not valid", code)
		case http.StatusForbidden:
			http.Error(w, "forbidden: the user may not get "+r.URL.Path, code)
		default:
			http.Error(w, "the token could not be checked; try again", code)
		}
	})
}

// decide returns 200, 401, 403, or 503 when the API server could not be
// asked (not cached).
func (m *MetricsAuth) decide(ctx context.Context, token, path string) int {
	key := sha256.Sum256([]byte(path + "\x00" + token))
	now := m.now()
	m.mu.Lock()
	d, ok := m.cache[key]
	m.mu.Unlock()
	if ok && now.Before(d.expires) {
		return d.code
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	code := http.StatusOK
	tr, err := m.client.AuthenticationV1().TokenReviews().Create(ctx,
		&authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	switch {
	case err != nil:
		return http.StatusServiceUnavailable
	case !tr.Status.Authenticated:
		code = http.StatusUnauthorized
	default:
		u := tr.Status.User
		extra := map[string]authzv1.ExtraValue{}
		for k, v := range u.Extra {
			extra[k] = authzv1.ExtraValue(v)
		}
		sar, err := m.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
			NonResourceAttributes: &authzv1.NonResourceAttributes{Path: path, Verb: "get"},
		}}, metav1.CreateOptions{})
		if err != nil {
			return http.StatusServiceUnavailable
		}
		if !sar.Status.Allowed {
			code = http.StatusForbidden
		}
	}
	m.mu.Lock()
	if len(m.cache) >= maxCachedTokens {
		clear(m.cache)
	}
	m.cache[key] = decision{code: code, expires: now.Add(m.ttl)}
	m.mu.Unlock()
	return code
}
