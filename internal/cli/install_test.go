package cli

import (
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

func TestInstallAudit(t *testing.T) {
	code, out, errOut := run(t, "", "install", "--audit", "--audit-storage-class", "managed-csi", "--audit-storage-size", "50Gi", "--audit-sink-cidr", "10.20.0.0/24", "--audit-retention", "720h")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "kubectl -n bulwark-system create secret generic bulwark-audit-token") {
		t.Errorf("no word of the Secrets to create:\n%s", errOut)
	}
	objs, err := k8s.Decode("install.yaml", []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	var sts *k8s.Object
	for _, o := range objs {
		if o.Kind() == "StatefulSet" && o.Name() == "bulwark-audit" {
			sts = o
		}
	}
	if sts == nil {
		t.Fatal("no bulwark-audit StatefulSet")
	}
	spec := sts.Content["spec"].(map[string]any)
	pvc := spec["volumeClaimTemplates"].([]any)[0].(map[string]any)["spec"].(map[string]any)
	if pvc["storageClassName"] != "managed-csi" || pvc["resources"].(map[string]any)["requests"].(map[string]any)["storage"] != "50Gi" {
		t.Errorf("volume claim %v", pvc)
	}
	tmpl, _ := k8s.PodTemplateOf(sts)
	args := strings.Join(anyStrings(k8s.Containers(tmpl.Spec)[0].Spec["args"]), " ")
	if !strings.Contains(args, "serve --audit") || !strings.Contains(args, "--audit-retention=720h") {
		t.Errorf("args %s", args)
	}
	if !strings.Contains(out, "cidr: 10.20.0.0/24") {
		t.Error("the sink CIDR is not in the NetworkPolicy")
	}

	// Without --audit, no receiver.
	if _, out, _ := run(t, "", "install"); strings.Contains(out, "kind: StatefulSet") || strings.Contains(out, "name: bulwark-audit-tls") {
		t.Error("install without --audit prints the receiver")
	}
	for _, bad := range [][]string{
		{"--audit-storage-size", "lots"},
		{"--audit-retention", "forever"},
		{"--audit-sink-cidr", "10.0.0.1"},
	} {
		code, _, errOut := run(t, "", append([]string{"install", "--audit"}, bad...)...)
		if code != 2 || !strings.Contains(errOut, bad[0]) {
			t.Errorf("%v: exit %d, %s", bad, code, errOut)
		}
	}
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
