package netpol_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/cli"
)

const seedCluster = `
apiVersion: v1
kind: Namespace
metadata: {name: dev}
---
apiVersion: v1
kind: Namespace
metadata: {name: production}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: imageclassifierweb, namespace: dev}
spec:
  selector: {matchLabels: {app: imageclassifierweb}}
  template:
    metadata: {labels: {app: imageclassifierweb}}
    spec:
      containers:
      - {name: web, image: web, ports: [{name: http, containerPort: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: centos, namespace: production}
spec: {containers: [{name: centos, image: centos}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: same-namespace, namespace: dev}
spec:
  podSelector: {}
  ingress: [{from: [{podSelector: {}}]}]
`

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Run(context.Background(), args, cli.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "manifests.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommand(t *testing.T) {
	f := write(t, seedCluster)
	tests := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		out, err string
	}{
		{"connections", "", []string{"netpol", "-f", f, "--no-external"}, 0, "dev/imageclassifierweb => production/centos : all ports\n", ""},
		{"connections from stdin", seedCluster, []string{"netpol", "-f", "-", "--to", "internet"}, 0, "dev/imageclassifierweb => internet : all ports\nproduction/centos => internet : all ports\n", ""},
		{"seed east/west", "", []string{"netpol", "can-reach", "production/centos", "dev/imageclassifierweb", "-f", f}, 1, "no\n", ""},
		{"reverse", "", []string{"netpol", "can-reach", "dev/imageclassifierweb", "production/centos", "--port", "443/TCP", "-f", f}, 0, "yes\n", ""},
		{"named port", "", []string{"netpol", "can-reach", "production/centos", "dev/imageclassifierweb", "--port", "http", "-f", f}, 1, "no\n", ""},
		{"internet", "", []string{"netpol", "can-reach", "production/centos", "internet", "-f", f}, 0, "yes\n", ""},
		{"unknown workload", "", []string{"netpol", "can-reach", "production/nope", "internet", "-f", f}, 2, "", "no such workload"},
		{"bad port", "", []string{"netpol", "can-reach", "production/centos", "internet", "--port", "80/ICMP", "-f", f}, 2, "", "unknown protocol"},
		{"no input", "", []string{"netpol"}, 2, "", "-f FILE"},
		{"bad format", "", []string{"netpol", "-f", f, "-o", "xml"}, 2, "", "unknown output format"},
		{"matrix", "", []string{"netpol", "matrix", "-f", f, "-o", "csv"}, 0, "from\\to,dev,production,internet\ndev,-,all,all\nproduction,none,-,all\ninternet,none,all,-\n", ""},
		{"findings", "", []string{"netpol", "findings", "-f", f, "-o", "json"}, 1, `"check": "BW-ANL-051"`, ""},
		{"findings fail-on none", "", []string{"netpol", "findings", "-f", f, "--fail-on", "none"}, 0, "BW-ANL-050", ""},
		{"bad policy", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: shop}\nspec:\n  podSelector: {}\n  egress: [{to: [{ipBlock: {cidr: 300.0.0.0/8}}]}]\n",
			[]string{"netpol", "-f", "-"}, 2, "", `-:1: NetworkPolicy/shop/x: spec.egress[0].to[0].ipBlock.cidr: invalid CIDR "300.0.0.0/8"`},
		{"bad yaml", "kind: [", []string{"netpol", "matrix", "-f", "-"}, 2, "", "-:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if tt.out != "" && !strings.Contains(out, tt.out) {
				t.Errorf("stdout %q does not contain %q", out, tt.out)
			}
			if tt.err != "" && !strings.Contains(errOut, tt.err) {
				t.Errorf("stderr %q does not contain %q", errOut, tt.err)
			}
		})
	}
}

func TestOutputFormats(t *testing.T) {
	f := write(t, seedCluster)
	for format, want := range map[string]string{
		"text": "dev/imageclassifierweb => production/centos : all ports",
		"json": `"from": "dev/imageclassifierweb"`,
		"csv":  "dev/imageclassifierweb,production/centos,all ports",
		"dot":  `"dev/imageclassifierweb" -> "production/centos" [label="all ports"];`,
		"md":   "| dev/imageclassifierweb | production/centos | all ports |",
	} {
		code, out, errOut := run(t, "", "netpol", "-f", f, "-o", format)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("-o %s: exit %d, output %q, stderr %q; want %q", format, code, out, errOut, want)
		}
	}
}
