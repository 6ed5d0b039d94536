package detect

import (
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// missing marks a field that must have no value.
var missing []string

func TestFieldExtractors(t *testing.T) {
	type tc struct {
		field string
		want  []string // nil: the field is missing
	}
	tests := map[string][]tc{
		"exec-started": {
			{"ka.auditid", []string{"616a53b3-7c42-5f0c-8f17-209d2f0225db"}},
			{"ka.stage", []string{"ResponseStarted"}},
			{"ka.auth.decision", []string{"allow"}},
			{"ka.auth.reason", []string{`RBAC: allowed by RoleBinding "payments-operators/payments" of ClusterRole "edit" to Group "8d2f5a17-1b3e-4c9a-a6f0-5e7d9c2b4a10"`}},
			{"ka.user.name", []string{"alice@contoso.com"}},
			{"ka.user.groups", []string{"8d2f5a17-1b3e-4c9a-a6f0-5e7d9c2b4a10", "system:authenticated"}},
			{"ka.impuser.name", missing},
			{"ka.verb", []string{"create"}},
			{"ka.uri", []string{"/api/v1/namespaces/payments/pods/api-7c9f8d6b54-k2vzp/exec?command=sh&command=-c&command=cat+%2Fetc%2Fshadow&container=api&stdin=true&stdout=true&tty=true"}},
			{"ka.uri.param[command]", []string{"sh"}},
			{"ka.uri.param[container]", []string{"api"}},
			{"ka.uri.param[nope]", missing},
			{"bw.exec.command", []string{"sh -c cat /etc/shadow"}},
			{"ka.target.name", []string{"api-7c9f8d6b54-k2vzp"}},
			{"ka.target.namespace", []string{"payments"}},
			{"ka.target.resource", []string{"pods"}},
			{"ka.target.subresource", []string{"exec"}},
			{"ka.target.pod.name", []string{"api-7c9f8d6b54-k2vzp"}},
			{"ka.response.code", []string{"101"}},
			{"ka.response.reason", missing},
			{"ka.useragent", []string{"kubectl/v1.30.2 (linux/amd64) kubernetes/39683505"}},
			{"ka.sourceips", []string{"203.0.113.45"}},
			{"ka.req.pod.containers.image", missing},
			{"ka.resp.name", missing},
			{"jevt.value[/stage]", []string{"ResponseStarted"}},
			{"jevt.value[/objectRef/subresource]", []string{"exec"}},
			{"jevt.value[/user/groups]", []string{`["8d2f5a17-1b3e-4c9a-a6f0-5e7d9c2b4a10","system:authenticated"]`}},
			{"jevt.value[/responseStatus/code]", []string{"101"}},
			{"json.value[/verb]", []string{"create"}},
			{"jevt.rawtime", []string{"1717423331527410000"}},
			{"json.rawtime", []string{"1717423331527410000"}},
			{"evt.rawtime", []string{"1717423331527410000"}},
			{"jevt.time", []string{"14:02:11.527410000"}},
			{"evt.time", []string{"14:02:11.527410000"}},
			{"jevt.time.iso8601", []string{"2024-06-03T14:02:11.527410000Z"}},
			{"evt.datetime", []string{"2024-06-03 14:02:11.527410000"}},
			{"evt.source", []string{"k8s_audit"}},
			{"ka.cluster.name", missing},
		},
		"exec-denied": {
			{"ka.auth.decision", []string{"forbid"}},
			{"ka.auth.reason", []string{""}},
			{"ka.response.code", []string{"403"}},
			{"ka.response.reason", []string{"Forbidden"}},
		},
		"secret-get-impersonated": {
			{"ka.user.name", []string{"kubernetes-admin"}},
			{"ka.impuser.name", []string{"system:serviceaccount:shop:web"}},
			{"bw.user.name", []string{"system:serviceaccount:shop:web"}},
			{"ka.target.pod.name", missing},
		},
		"pod-privileged": {
			{"ka.req.pod.containers.name", []string{"shell"}},
			{"ka.req.pod.containers.image", []string{"docker.io/library/alpine:3.20"}},
			{"ka.req.pod.containers.image.repository", []string{"docker.io/library/alpine"}},
			{"ka.req.container.image", []string{"docker.io/library/alpine:3.20"}},
			{"ka.req.container.image.repository", []string{"docker.io/library/alpine"}},
			{"ka.req.pod.containers.command", []string{"sleep infinity"}},
			{"ka.req.pod.containers.args", missing},
			{"ka.req.pod.containers.privileged", []string{"true"}},
			{"ka.req.container.privileged", []string{"true"}},
			{"ka.req.pod.containers.eff_run_as_user", []string{"0"}},
			{"ka.req.pod.containers.eff_run_as_group", []string{"0"}},
			{"ka.req.pod.containers.run_as_user", missing},
			{"ka.req.pod.host_network", missing},
			{"ka.resp.name", []string{"node-debugger"}},
			{"ka.target.pod.name", []string{"node-debugger"}},
		},
		"pod-benign": {
			{"ka.req.pod.containers.privileged", missing},
			{"ka.req.container.privileged", []string{"false"}},
			{"ka.req.pod.containers.allow_privilege_escalation", []string{"false"}},
			{"ka.req.pod.containers.read_only_fs", []string{"true"}},
			{"ka.req.pod.run_as_user", []string{"10001"}},
			{"ka.req.pod.run_as_group", []string{"10001"}},
			{"ka.req.pod.fs_group", []string{"10001"}},
			{"ka.req.pod.containers.eff_run_as_user", []string{"10001"}},
			{"ka.req.pod.containers.eff_run_as_group", []string{"10001"}},
			{"ka.req.pod.containers.host_port", []string{"8080"}},
			{"ka.req.pod.containers.add_capabilities", missing},
			{"ka.req.pod.volumes.volume_type", []string{"emptyDir", "projected"}},
			{"ka.req.pod.volumes.hostpath", missing},
			{"ka.req.volume.hostpath[/etc*]", []string{"false"}},
		},
		"pod-capabilities": {
			{"ka.req.pod.containers.add_capabilities", []string{"NET_ADMIN", "SYS_TIME"}},
			{"ka.req.pod.containers.add_capabilities[1]", missing},
			{"ka.req.pod.containers.proc_mount", []string{"Unmasked"}},
			{"ka.req.pod.containers.run_as_user", []string{"0"}},
			{"ka.req.pod.containers.run_as_group", []string{"0"}},
			{"ka.req.pod.containers.eff_run_as_user", []string{"0", "1000"}},
			{"ka.req.pod.containers.eff_run_as_group", []string{"0", "3000"}},
			{"ka.req.pod.containers.eff_run_as_user[1]", []string{"1000"}},
			{"ka.req.pod.containers.read_only_fs", []string{"true"}},
			{"ka.req.pod.containers.args", []string{"--interval 30s"}},
			{"ka.req.pod.containers.image.repository", []string{"contoso.azurecr.io/net/tuner", "registry.local:5000/metrics/exporter"}},
			{"ka.req.pod.supplemental_groups", []string{"4000", "4001"}},
			{"ka.req.pod.volumes.flexvolume_driver", []string{"example.com/lvm"}},
			{"ka.req.pod.volumes.volume_type", []string{"flexVolume", "configMap"}},
			{"ka.req.pod.volumes.volume_type[1]", []string{"configMap"}},
		},
		"pod-hostpath": {
			{"ka.req.pod.volumes.hostpath", []string{"/var/run/docker.sock", "/etc/kubernetes/pki"}},
			{"ka.req.pod.volumes.hostpath[1]", []string{"/etc/kubernetes/pki"}},
			{"ka.req.volume.hostpath[/etc*]", []string{"true"}},
			{"ka.req.volume.hostpath[/var/run/docker.sock]", []string{"true"}},
			{"ka.req.volume.hostpath[/proc]", []string{"false"}},
			{"ka.req.pod.volumes.volume_type", []string{"hostPath", "hostPath"}},
		},
		"pod-hostnetwork": {
			{"ka.req.pod.host_network", []string{"true"}},
			{"ka.req.container.host_network", []string{"true"}},
			{"ka.req.pod.host_pid", []string{"true"}},
			{"ka.req.pod.host_ipc", missing},
			{"ka.req.pod.containers.host_port", []string{"9100"}},
		},
		"deployment-privileged-init": {
			{"ka.req.pod.containers.image", []string{"contoso.azurecr.io/obs/shipper:0.9.0"}},
			{"ka.req.pod.containers.privileged", missing},
			{"ka.req.pod.containers.allow_privilege_escalation", []string{"false"}},
			{"ka.req.pod.initContainers.name", []string{"setup"}},
			{"ka.req.pod.initContainers.image", []string{"docker.io/library/busybox:1.36"}},
			{"ka.req.pod.initContainers.image.repository", []string{"docker.io/library/busybox"}},
			{"ka.req.pod.initContainers.privileged", []string{"true"}},
			{"ka.req.pod.initContainers.command", []string{"sh -c sysctl -w vm.max_map_count=262144"}},
			{"ka.target.pod.name", missing},
		},
		"ephemeral-container": {
			{"ka.req.pod.ephemeralContainers.name", []string{"debugger-x7k2q"}},
			{"ka.req.pod.ephemeralContainers.image", []string{"busybox:1.36"}},
			{"ka.req.pod.ephemeralContainers.command", []string{"sh"}},
			{"ka.req.pod.ephemeralContainers.privileged", missing},
			{"ka.req.pod.containers.name", []string{"api"}},
		},
		"clusterrolebinding-cluster-admin": {
			{"ka.req.binding.role", []string{"cluster-admin"}},
			{"ka.req.binding.subjects", []string{
				`{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"mallory@contoso.com"}`,
				`{"kind":"ServiceAccount","name":"builder","namespace":"ci"}`}},
			{"ka.req.binding.subjects.user_names", []string{"mallory@contoso.com"}},
			{"ka.req.binding.subjects.serviceaccount_names", []string{"builder"}},
			{"ka.req.binding.subjects.serviceaccount_ns_names", []string{"ci:builder"}},
			{"ka.req.binding.subjects.group_names", missing},
			{"ka.req.binding.subject.has_name[mallory@contoso.com]", []string{"true"}},
			{"ka.target.namespace", missing},
		},
		"rolebinding-view": {
			{"ka.req.binding.subjects.group_names", []string{"shop-readers"}},
			{"ka.req.binding.role", []string{"view"}},
		},
		"clusterrole-wildcard": {
			{"ka.req.role.rules", []string{`{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}`, `{"nonResourceURLs":["*"],"verbs":["get"]}`}},
			{"ka.req.role.rules.verbs", []string{"*", "get"}},
			{"ka.req.role.rules.verbs[1]", []string{"get"}},
			{"ka.req.role.rules.resources", []string{"*"}},
			{"ka.req.role.rules.apiGroups", []string{"*"}},
			{"ka.req.role.rules.nonResourceURLs", []string{"*"}},
		},
		"service-nodeport": {
			{"ka.req.service.type", []string{"NodePort"}},
			{"ka.req.service.ports", []string{`{"name":"http","protocol":"TCP","port":9090,"targetPort":9090,"nodePort":30090}`}},
		},
		"configmap-create-credentials": {
			{"ka.req.configmap.name", []string{"app-settings"}},
			{"ka.req.configmap.obj", []string{`{"DB_HOST":"shop-db.shop.svc","DB_PASSWORD":"hunter2","LOG_LEVEL":"info"}`}},
		},
		"anonymous-allowed": {
			{"ka.user.name", []string{"system:anonymous"}},
			{"ka.user.groups", []string{"system:unauthenticated"}},
			{"ka.target.name", missing},
		},
		"anonymous-readyz": {
			{"ka.target.resource", missing},
			{"ka.uri.param[verbose]", []string{""}},
		},
		"pod-list-via-proxy": {
			{"ka.sourceips", []string{"192.0.2.200", "10.224.0.9"}},
			{"ka.sourceips[1]", []string{"10.224.0.9"}},
			{"bw.sourceips", []string{"192.0.2.200", "10.224.0.9"}},
			{"bw.sourceip", []string{"10.224.0.9"}},
		},
	}
	for name, cases := range tests {
		ev := loadEvent(t, name)
		for _, c := range cases {
			t.Run(name+"/"+c.field, func(t *testing.T) {
				got, ok := extract(t, c.field, ev)
				if c.want == nil {
					if ok {
						t.Errorf("%s = %q, want missing", c.field, got)
					}
					return
				}
				if !ok || !slices.Equal(got, c.want) {
					t.Errorf("%s = %q (present %v), want %q", c.field, got, ok, c.want)
				}
			})
		}
	}
}

func TestFieldJSONObj(t *testing.T) {
	ev := loadEvent(t, "lease-update")
	got, ok := extract(t, "jevt.obj", ev)
	if !ok || !strings.HasPrefix(got[0], `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata"`) || strings.Contains(got[0], "\n") {
		t.Errorf("jevt.obj = %.80q", got)
	}
	// An event built in code, not decoded, still renders.
	built := &audit.Event{Verb: "get", AuditID: "x"}
	got, ok = extract(t, "jevt.obj", built)
	if !ok || !strings.Contains(got[0], `"verb":"get"`) {
		t.Errorf("jevt.obj of a built event = %q", got)
	}
}

func TestFieldClusterName(t *testing.T) {
	ev, err := audit.Decode([]byte(`{"auditID":"x","verb":"get","cluster_name":"prod-weu"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := extract(t, "ka.cluster.name", ev); !ok || got[0] != "prod-weu" {
		t.Errorf("ka.cluster.name = %q", got)
	}
}

func TestFieldsDocumented(t *testing.T) {
	required := strings.Fields(`ka.auditid ka.stage ka.auth.decision ka.auth.reason ka.user.name ka.user.groups
		ka.impuser.name ka.verb ka.uri ka.uri.param ka.target.name ka.target.namespace ka.target.resource
		ka.target.subresource ka.req.binding.subjects ka.req.binding.role ka.req.binding.subject.has_name
		ka.req.configmap.name ka.req.configmap.obj ka.req.pod.containers.image ka.req.container.image
		ka.req.pod.containers.image.repository ka.req.pod.host_ipc ka.req.pod.host_network ka.req.pod.host_pid
		ka.req.pod.containers.host_port ka.req.pod.containers.privileged ka.req.pod.containers.allow_privilege_escalation
		ka.req.pod.containers.read_only_fs ka.req.pod.run_as_user ka.req.pod.containers.run_as_user
		ka.req.pod.containers.eff_run_as_user ka.req.pod.run_as_group ka.req.pod.containers.run_as_group
		ka.req.pod.containers.eff_run_as_group ka.req.pod.containers.proc_mount ka.req.role.rules
		ka.req.role.rules.apiGroups ka.req.role.rules.nonResourceURLs ka.req.role.rules.verbs ka.req.role.rules.resources
		ka.req.pod.fs_group ka.req.pod.supplemental_groups ka.req.pod.containers.add_capabilities ka.req.service.type
		ka.req.service.ports ka.req.pod.volumes.hostpath ka.req.pod.volumes.flexvolume_driver ka.req.pod.volumes.volume_type
		ka.resp.name ka.response.code ka.response.reason ka.useragent ka.sourceips jevt.time jevt.time.iso8601
		jevt.rawtime jevt.value jevt.obj`)
	known := map[string]Field{}
	for _, f := range Fields() {
		known[f.Name] = f
	}
	for _, name := range required {
		f, ok := known[name]
		if !ok {
			t.Errorf("field %s is not supported", name)
			continue
		}
		if f.Description == "" {
			t.Errorf("field %s has no description", name)
		}
	}
}

func TestEventWithoutTimestamps(t *testing.T) {
	ev, err := audit.Decode([]byte(`{"auditID":"x","verb":"get","stage":"ResponseComplete"}`))
	if err != nil {
		t.Fatal(err)
	}
	// As Falco stamps events it reads, the time fields always exist.
	for _, f := range []string{"jevt.rawtime", "evt.time", "jevt.time.iso8601"} {
		if got, ok := extract(t, f, ev); !ok || got[0] == "" || got[0] == "0" {
			t.Errorf("%s = %q, %v", f, got, ok)
		}
	}
	if !matches(t, "jevt.rawtime exists and not jevt.rawtime = 0", "", ev) {
		t.Error("always-true/never-true macros of the k8saudit rules would break")
	}
}

func TestLegacyEphemeralContainersBody(t *testing.T) {
	ev, err := audit.Decode([]byte(`{"auditID":"x","verb":"update","objectRef":{"resource":"pods","subresource":"ephemeralcontainers","name":"p"},
		"requestObject":{"kind":"EphemeralContainers","apiVersion":"v1","metadata":{"name":"p"},
		"ephemeralContainers":[{"name":"debugger","image":"busybox","securityContext":{"privileged":true}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := extract(t, "ka.req.pod.ephemeralContainers.image", ev); !ok || !slices.Equal(got, []string{"busybox"}) {
		t.Errorf("image %q", got)
	}
	if got, ok := extract(t, "ka.req.pod.ephemeralContainers.privileged", ev); !ok || !slices.Equal(got, []string{"true"}) {
		t.Errorf("privileged %q", got)
	}
}
