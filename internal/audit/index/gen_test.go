package index

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// t0 is the time of the first generated event.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// genRequest is one request of the synthetic traffic.
type genRequest struct {
	user, verb, resource, sub, group, ns, name, ip string
	groups                                         []string
	code                                           int
}

// traffic is a cluster's mix: controllers and kubelets reading and
// updating, operators, a few people, an occasional exec and secret read;
// 20 users, 16 resources, 10 namespaces.
var (
	genUsers = func() []genUser {
		sa := func(ns, name string) genUser {
			return genUser{"system:serviceaccount:" + ns + ":" + name,
				[]string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}, "10.224.0.4"}
		}
		users := []genUser{
			sa("kube-system", "replicaset-controller"), sa("kube-system", "deployment-controller"),
			sa("kube-system", "endpointslice-controller"), sa("kube-system", "namespace-controller"),
			{"system:kube-scheduler", []string{"system:authenticated"}, "10.224.0.4"},
			{"system:kube-controller-manager", []string{"system:authenticated"}, "10.224.0.4"},
			sa("flux-system", "kustomize-controller"), sa("cert-manager", "cert-manager"),
			sa("monitoring", "prometheus"),
			{"alice@contoso.com", []string{"0b7e4d21-aks-admins", "system:authenticated"}, "203.0.113.10"},
			{"bob@contoso.com", []string{"6c1f0a93-aks-developers", "system:authenticated"}, "203.0.113.11"},
			{"mallory@contoso.com", []string{"system:authenticated"}, "198.51.100.23"},
		}
		for i := range 8 {
			users = append(users, genUser{fmt.Sprintf("system:node:aks-nodepool1-12345678-vmss%06d", i),
				[]string{"system:nodes", "system:authenticated"}, fmt.Sprintf("10.224.0.%d", 10+i)})
		}
		return users
	}()
	genResources = []struct{ resource, sub, group string }{
		{"pods", "", ""}, {"pods", "status", ""}, {"pods", "log", ""}, {"pods", "exec", ""},
		{"configmaps", "", ""}, {"secrets", "", ""}, {"leases", "", "coordination.k8s.io"},
		{"deployments", "", "apps"}, {"replicasets", "", "apps"}, {"nodes", "status", ""},
		{"events", "", ""}, {"endpointslices", "", "discovery.k8s.io"}, {"serviceaccounts", "token", ""},
		{"services", "", ""}, {"certificates", "", "cert-manager.io"}, {"rolebindings", "", "rbac.authorization.k8s.io"},
	}
	genVerbs      = []string{"get", "list", "watch", "update", "patch", "create", "delete"}
	genNamespaces = []string{"shop", "payments", "kube-system", "flux-system", "monitoring", "default",
		"cert-manager", "ingress-nginx", "search", "checkout"}
	genCodes = []int{200, 200, 200, 200, 201, 403, 404, 409}
)

type genUser struct {
	name   string
	groups []string
	ip     string
}

// genEvents returns n decoded events (about 1.5 KB of JSON each), one
// every 10 ms from t0, of varied users, verbs and resources. With stages
// each request is logged at RequestReceived then ResponseComplete, two
// events; n counts events.
func genEvents(tb testing.TB, n int, stages bool) []*audit.Event {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var out []*audit.Event
	pad := strings.Repeat("x", 700)
	for i := 0; len(out) < n; i++ {
		u := genUsers[r.IntN(len(genUsers))]
		res := genResources[r.IntN(len(genResources))]
		q := genRequest{
			user: u.name, groups: u.groups, ip: u.ip,
			verb: genVerbs[r.IntN(len(genVerbs))], resource: res.resource, sub: res.sub, group: res.group,
			ns: genNamespaces[r.IntN(len(genNamespaces))], name: fmt.Sprintf("obj-%d", r.IntN(500)),
			code: genCodes[r.IntN(len(genCodes))],
		}
		at := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()>>16)
		if stages {
			out = append(out, genEvent(tb, q, id, "RequestReceived", at, at, pad))
		}
		out = append(out, genEvent(tb, q, id, "ResponseComplete", at, at.Add(3*time.Millisecond), pad))
	}
	return out[:n]
}

func genEvent(tb testing.TB, q genRequest, id, stage string, received, at time.Time, pad string) *audit.Event {
	tb.Helper()
	uri := "/api/v1/namespaces/" + q.ns + "/" + q.resource + "/" + q.name
	if q.group != "" {
		uri = "/apis/" + q.group + "/v1/namespaces/" + q.ns + "/" + q.resource + "/" + q.name
	}
	sub := ""
	if q.sub != "" {
		uri += "/" + q.sub
		sub = `,"subresource":"` + q.sub + `"`
	}
	status := ""
	if stage != "RequestReceived" {
		status = fmt.Sprintf(`"responseStatus":{"metadata":{},"code":%d},`, q.code)
	}
	groups := `"` + strings.Join(q.groups, `","`) + `"`
	js := fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":%q,"stage":%q,`+
		`"requestURI":%q,"verb":%q,"user":{"username":%q,"uid":"0b7e4d21-9a6c-4e3f-8d15-7c2a9e6f1b48","groups":[%s],`+
		`"extra":{"azure.com/pod":["pod-7f9c"],"oid":["5c9a1e3b-2f47-4d8a-b6e0-91c3f7a2d845"]}},`+
		`"sourceIPs":[%q],"userAgent":"kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/%s",`+
		`"objectRef":{"resource":%q,"namespace":%q,"name":%q,"apiGroup":%q,"apiVersion":"v1"%s},%s`+
		`"requestReceivedTimestamp":%q,"stageTimestamp":%q,`+
		`"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"system:controller\" of ClusterRole \"system:controller\" %s"}}`,
		id, stage, uri, q.verb, q.user, groups, q.ip, q.user, q.resource, q.ns, q.name, q.group, sub, status,
		received.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano), pad)
	ev, err := audit.Decode([]byte(js))
	if err != nil {
		tb.Fatalf("generated event: %v\n%s", err, js)
	}
	return ev
}

// entries numbers events from position 1:0, 500 to a segment.
func entries(events []*audit.Event, from int) []Entry {
	out := make([]Entry, len(events))
	for i, ev := range events {
		n := uint64(from + i)
		out[i] = Entry{Pos: audit.Position{Segment: 1 + n/500, Index: n % 500}, Event: ev}
	}
	return out
}
