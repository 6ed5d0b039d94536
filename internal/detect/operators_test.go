package detect

import (
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

const opEvent = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a1","stage":"ResponseComplete",
 "requestURI":"/api/v1/namespaces/Shop/pods/web-1/exec?command=sh&command=-c&command=ls%20-la&container=web",
 "verb":"create","user":{"username":"Alice@Contoso.com","groups":["devs","system:authenticated"]},
 "sourceIPs":["203.0.113.45","10.1.2.3"],"userAgent":"kubectl/v1.30.2",
 "objectRef":{"resource":"pods","namespace":"Shop","name":"web-1","subresource":"exec"},
 "responseStatus":{"metadata":{},"code":201},
 "requestObject":{"kind":"Pod","metadata":{"name":"web-1","annotations":{"note":"aGVsbG8="}},"spec":{"containers":[
   {"name":"a","image":"nginx:1.25","securityContext":{"privileged":true}},
   {"name":"b","image":"redis:7"}],
   "volumes":[{"name":"h","hostPath":{"path":"/var/lib/kubelet/pods"}},{"name":"e","emptyDir":{}}]}},
 "stageTimestamp":"2024-06-03T14:02:11.5Z",
 "annotations":{"authorization.k8s.io/decision":"allow"}}`

const opPrelude = `
- list: people
  items: [bob, Alice@Contoso.com]
- list: more_people
  items: [carol, people]
- list: kubelet_paths
  items: [/var/lib/kubelet]
- list: office
  items: [203.0.113.0/24]
- list: office_and_nodes
  items: [office, '"10.0.0.0/8"']
- list: quoted_verbs
  items: ['"create"', "'get'"]
- macro: is_exec
  condition: ka.target.subresource = exec
- macro: is_pod_exec
  condition: ka.target.resource = pods and is_exec
`

func TestOperators(t *testing.T) {
	ev, err := audit.Decode([]byte(opEvent))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cond string
		want bool
	}{
		// Equality.
		{`ka.verb = create`, true},
		{`ka.verb == create`, true},
		{`ka.verb = get`, false},
		{`ka.verb != get`, true},
		{`ka.verb != create`, false},
		{`ka.response.code = 201`, true},
		// A missing field makes every comparison false, != included.
		{`ka.impuser.name = bob`, false},
		{`ka.impuser.name != bob`, false},
		{`not ka.impuser.name = bob`, true},
		// exists.
		{`ka.target.subresource exists`, true},
		{`ka.impuser.name exists`, false},
		{`ka.req.pod.containers.privileged exists`, true},
		{`ka.req.pod.initContainers.image exists`, false},
		{`ka.user.groups exists`, true},
		// Ordering: numeric when the value is a number, else as strings.
		{`ka.response.code > 200`, true},
		{`ka.response.code >= 201`, true},
		{`ka.response.code < 201`, false},
		{`ka.response.code <= 201`, true},
		{`ka.response.code < 1000`, true},
		{`ka.response.code > 0xC8`, true},
		{`ka.verb > 5`, true},
		// in / intersects on a single-valued field: membership.
		{`ka.verb in (get, create)`, true},
		{`ka.verb in (get, list)`, false},
		{`ka.verb intersects (create)`, true},
		{`ka.verb in ()`, false},
		// in / intersects on a list field: subset / overlap.
		{`ka.user.groups in (devs, system:authenticated, ops)`, true},
		{`ka.user.groups in (devs)`, false},
		{`ka.user.groups intersects (devs)`, true},
		{`ka.user.groups intersects (ops, admins)`, false},
		{`ka.req.pod.containers.privileged intersects (true)`, true},
		{`ka.req.pod.containers.image.repository in (nginx, redis)`, true},
		{`ka.req.pod.containers.image.repository in (nginx)`, false},
		// Lists by name, nested lists, bare list names.
		{`ka.user.name in (people)`, true},
		{`ka.user.name in (more_people)`, true},
		{`ka.user.name in people`, true},
		{`ka.user.name in (carol, people, dave)`, true},
		{`ka.verb in (quoted_verbs)`, true},
		// String operators.
		{`ka.user.name contains Contoso`, true},
		{`ka.user.name contains contoso`, false},
		{`ka.user.name icontains CONTOSO`, true},
		{`ka.useragent icontains KUBECTL/V1`, true},
		{`ka.uri startswith /api/v1/`, true},
		{`ka.uri startswith /apis/`, false},
		{`ka.user.name endswith .com`, true},
		{`ka.uri glob "/api/*/exec*"`, true},
		{`ka.uri glob "/api/v?/namespaces/[A-Z]hop/*"`, true},
		{`ka.uri glob "/api/v1/namespaces/[!S]hop/*"`, false},
		{`ka.uri glob "*exec"`, false},
		{`ka.user.name iglob "alice@*"`, true},
		{`ka.user.name glob "alice@*"`, false},
		{`ka.uri regex "/api/v1/namespaces/[A-Za-z]+/pods/.*"`, true},
		{`ka.uri regex "/api/v1"`, false},
		{`ka.uri regex "(/[a-z0-9]+)+.*"`, true},
		{`ka.target.namespace regex "Sho|Shop"`, true},
		// pmatch: path prefixes on component boundaries.
		{`ka.uri.param[container] pmatch (/web)`, false},
		{`jevt.value[/requestObject/spec/volumes/0/hostPath/path] pmatch (/var/lib/kubelet)`, true},
		{`jevt.value[/requestObject/spec/volumes/0/hostPath/path] pmatch (/var/lib/kube)`, false},
		{`jevt.value[/requestObject/spec/volumes/0/hostPath/path] pmatch (/var/*/kubelet)`, true},
		{`jevt.value[/requestObject/spec/volumes/0/hostPath/path] pmatch (/)`, true},
		{`jevt.value[/requestObject/spec/volumes/0/hostPath/path] pmatch (/etc, kubelet_paths)`, true},
		// Bulwark: string operators on list fields match any value.
		{`ka.req.pod.volumes.hostpath pmatch (kubelet_paths)`, true},
		{`ka.user.groups contains "system:"`, true},
		{`ka.user.groups startswith ops`, false},
		{`ka.req.pod.containers.image glob "redis:*"`, true},
		// Field arguments.
		{`ka.uri.param[command] = sh`, true},
		{`ka.uri.param[container] = web`, true},
		{`ka.uri.param[missing] exists`, false},
		{`bw.exec.command = "sh -c ls -la"`, true},
		{`ka.req.pod.containers.image[1] intersects (redis:7)`, true},
		{`ka.req.pod.containers.image[1] in (nginx:1.25)`, false},
		{`ka.req.pod.containers.image[0] in (redis:7)`, false},
		{`ka.req.pod.containers.image[5] exists`, false},
		{`jevt.value[/verb] = create`, true},
		{`jevt.value[/objectRef/name] = web-1`, true},
		{`jevt.value[/requestObject/spec/containers/0/securityContext] = "{\"privileged\":true}"`, true},
		{`jevt.value[/nope] exists`, false},
		// IP fields: addresses and CIDR ranges.
		{`bw.sourceips in (office_and_nodes)`, true},
		{`bw.sourceips in (office)`, false},
		{`bw.sourceips intersects (office)`, true},
		{`bw.sourceips intersects (192.168.0.0/16, 2001:db8::/32)`, false},
		{`bw.sourceips intersects (10.1.2.3)`, true},
		{`bw.sourceip = 10.0.0.0/8`, true},
		{`bw.sourceip != 10.0.0.0/8`, false},
		{`bw.sourceip in (203.0.113.0/24)`, false},
		{`ka.sourceips intersects (10.1.2.3)`, true},
		{`ka.sourceips[0] intersects (10.1.2.3)`, false},
		// Transformers.
		{`tolower(ka.user.name) = alice@contoso.com`, true},
		{`toupper(ka.verb) = CREATE`, true},
		{`len(ka.user.groups) = 2`, true},
		{`len(ka.verb) > 5`, true},
		{`basename(ka.uri.param[command]) = sh`, true},
		{`b64(jevt.value[/requestObject/metadata/annotations/note]) = hello`, true},
		{`tolower(ka.user.groups) intersects (devs)`, true},
		// Logic, macros.
		{`is_pod_exec and ka.verb = create`, true},
		{`is_pod_exec and not ka.verb = create`, false},
		{`ka.verb = get or is_exec`, true},
		{`not (ka.verb = get or ka.verb = list)`, true},
		{`(ka.verb = get or ka.verb = create) and (ka.user.name = bob or ka.user.name = Alice@Contoso.com)`, true},
		// Time and event fields.
		{`jevt.rawtime exists`, true},
		{`jevt.rawtime = 0`, false},
		{`evt.time.iso8601 = 2024-06-03T14:02:11.500000000Z`, true},
		{`evt.source = k8s_audit`, true},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			if got := matches(t, tt.cond, opPrelude, ev); got != tt.want {
				t.Errorf("%s = %v, want %v", tt.cond, got, tt.want)
			}
		})
	}
}

func TestOperatorCompileErrors(t *testing.T) {
	tests := []struct{ cond, msg string }{
		{`ka.user.groups = devs`, "operator = is not supported on list field ka.user.groups (use in, intersects or exists)"},
		{`ka.user.groups != devs`, "operator != is not supported on list field"},
		{`ka.sourceips > 1`, "operator > is not supported on list field"},
		{`ka.verb bcontains 41`, "operator bcontains is not supported"},
		{`ka.uri regex "a("`, `invalid regex "a("`},
		{`ka.uri regex "\d+"`, `invalid regex "\\d+"`},
		{`ka.nope = x`, `unknown field "ka.nope"`},
		{`ka.verb[1] = x`, "field ka.verb does not take an argument"},
		{`ka.uri.param = x`, "field ka.uri.param requires an argument"},
		{`ka.req.pod.containers.image[x] exists`, `argument "x" is not an index`},
		{`jevt.value[stage] = x`, `"stage" is not a JSON pointer`},
		{`jevt.value = x`, "requires a JSON pointer argument"},
		{`undefined_macro`, "undefined macro 'undefined_macro' used in filter"},
		{`ka.verb in missing_list`, "undefined list 'missing_list'"},
		{`people`, `"people" is a list, not a macro`},
		{`bw.sourceips in (not-an-ip)`, `"not-an-ip" is not an IP address or CIDR range`},
		{`bw.sourceips in (10.0.0.0/33)`, `"10.0.0.0/33" is not a CIDR range`},
		{`bw.sourceip contains 10`, "operator contains is not supported on IP field"},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			_, err := compileCond(tt.cond, opPrelude)
			if err == nil {
				t.Fatal("compiled")
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "test.yaml:") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "a/b", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"?", "é", true},
		{"??", "é", false},
		{"[a-c]x", "bx", true},
		{"[!a-c]x", "bx", false},
		{"[^a-c]x", "dx", true},
		{"[]]", "]", true},
		{"[", "[", true},
		{"[ab", "[ab", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{"*.yaml", "dir/x.yaml", true},
		{"a**", "a", true},
		{"*a*a*a*a*a*b", strings.Repeat("a", 200), false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v", tt.p, tt.s, got)
		}
	}
}

func TestPmatch(t *testing.T) {
	pats := []pathPattern{newPathPattern("/etc"), newPathPattern("/var/run/docker.sock"), newPathPattern("/home/*/.ssh")}
	tests := map[string]bool{
		"/etc": true, "/etc/": true, "/etc/passwd": true, "/etcd": false, "etc": false,
		"/var/run/docker.sock": true, "/var/run": false, "/home/alice/.ssh/id_rsa": true,
		"/home/alice/.sshx": false, "//etc//x": true, "/": false,
	}
	for s, want := range tests {
		if got := pmatch(pats, s); got != want {
			t.Errorf("pmatch(%q) = %v, want %v", s, got, want)
		}
	}
	if !pmatch([]pathPattern{newPathPattern("/")}, "/anything") {
		t.Error("/ must match every absolute path")
	}
}

func TestImageRepository(t *testing.T) {
	tests := map[string]string{
		"nginx":                      "nginx",
		"nginx:1.25":                 "nginx",
		"docker.io/library/nginx:1":  "docker.io/library/nginx",
		"registry.local:5000/app":    "registry.local:5000/app",
		"registry.local:5000/app:v2": "registry.local:5000/app",
		"repo/app@sha256:abc":        "repo/app",
		"repo/app:1.0@sha256:abc":    "repo/app",
	}
	for in, want := range tests {
		if got := imageRepository(in); got != want {
			t.Errorf("imageRepository(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestListExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("- list: l0\n  items: [a, b, c, d, e, f, g, h, i, j]\n")
	for i := 1; i <= 8; i++ {
		prev := "l" + string(rune('0'+i-1))
		b.WriteString("- list: l" + string(rune('0'+i)) + "\n  items: [" + strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	_, err := compileCond("ka.verb in (l8)", b.String())
	if err == nil || !strings.Contains(err.Error(), "expands to more than 100000 items") {
		t.Errorf("err = %v", err)
	}
}
