package cli

import (
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// TestAuditReceiverManifest keeps deploy/audit/ in step with the code: the
// StatefulSet's arguments are flags bulwark serve takes, and the webhook
// kubeconfig is one client-go loads. (The end-to-end test runs a real API
// server with deploy/audit/policy.yaml and dry-runs receiver.yaml on it.)
func TestAuditReceiverManifest(t *testing.T) {
	objs, err := (k8s.Loader{}).Load("../../deploy/audit/receiver.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, o := range objs {
		if o.Kind() != "StatefulSet" {
			continue
		}
		tmpl, ok := k8s.PodTemplateOf(o)
		if !ok {
			t.Fatal("the StatefulSet has no pod template")
		}
		for _, c := range k8s.Containers(tmpl.Spec) {
			list, _ := c.Spec["args"].([]any)
			for _, a := range list {
				s, _ := a.(string)
				args = append(args, s)
			}
		}
	}
	if len(args) < 2 || args[0] != "serve" {
		t.Fatalf("no serve arguments in the StatefulSet: %v", args)
	}
	cmd := newServeCommand(Streams{})
	if err := cmd.ParseFlags(args[1:]); err != nil {
		t.Fatalf("bulwark serve does not take the StatefulSet's arguments %v: %v", args, err)
	}
	f := cmd.Flags()
	if on, _ := f.GetBool("audit"); !on {
		t.Error("the receiver does not run --audit")
	}
	if _, err := clientcmd.LoadFromFile("../../deploy/audit/webhook-kubeconfig.yaml"); err != nil {
		t.Errorf("webhook kubeconfig: %v", err)
	}
}
