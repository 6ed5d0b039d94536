// Command bulwark makes a Kubernetes cluster meet the secure-cluster
// baseline and proves it.
package main

import "github.com/bulwark-k8s/bulwark/internal/cli"

func main() { cli.Main() }
