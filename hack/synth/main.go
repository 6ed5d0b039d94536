// Command synth writes a synthetic cluster of N objects as YAML to standard
// output, for load tests: go run ./hack/synth -n 10000 > /tmp/10k.yaml
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/bulwark-k8s/bulwark/internal/scan/synth"
)

func main() {
	n := flag.Int("n", 10000, "number of objects")
	flag.Parse()
	w := bufio.NewWriter(os.Stdout)
	if err := synth.Write(w, *n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
