package detect_test

import (
	"fmt"
	"os"

	"github.com/bulwark-k8s/bulwark/internal/audit"
	"github.com/bulwark-k8s/bulwark/internal/detect"
)

func ExampleEngine_Evaluate() {
	engine, err := detect.LoadDefaultRules(detect.Options{
		AllowedSourceCIDRs: []string{"203.0.113.0/24", "10.0.0.0/8"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	data, err := os.ReadFile("testdata/events/exec-started.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	ev, err := audit.Decode(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range engine.Evaluate(ev) {
		fmt.Println(a.Check, a.Priority, a.Requirements)
		fmt.Println(a.Fields["ka.user.name"], a.Fields["ka.target.name"], a.Fields["bw.exec.command"])
	}
	// Output:
	// BW-DET-001 Warning [REQ-05a]
	// alice@contoso.com api-7c9f8d6b54-k2vzp sh -c cat /etc/shadow
}
