package policy_test

import (
	"context"
	"fmt"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
)

// Load a Gatekeeper template and constraint, then review a Deployment: the
// Pod-only constraint judges the Deployment through its pod template.
func Example() {
	manifests := `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sdisallowlatest}
spec:
  crd: {spec: {names: {kind: K8sDisallowLatest}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8sdisallowlatest
      violation[{"msg": msg}] {
        c := input.review.object.spec.containers[_]
        endswith(c.image, ":latest")
        msg := sprintf("container %q uses a latest tag", [c.name])
      }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sDisallowLatest
metadata: {name: no-latest}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: [Pod]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers: [{name: web, image: "nginx:latest"}]
`
	objs, err := k8s.Decode("example.yaml", []byte(manifests))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	eng := policy.New()
	if _, err := eng.AddTemplate(ctx, objs[0]); err != nil {
		panic(err)
	}
	if _, err := eng.AddConstraint(objs[1]); err != nil {
		panic(err)
	}
	results, _, err := eng.ReviewObject(ctx, objs[2])
	if err != nil {
		panic(err)
	}
	for _, r := range results {
		fmt.Printf("%s %s at %s:%d: %s (%s)\n", r.EnforcementAction, objs[2], objs[2].File, objs[2].Line, r.Msg, r.TemplatePath)
	}
	// Output: deny Deployment/shop/web at example.yaml:24: container "web" uses a latest tag (spec.template)
}
