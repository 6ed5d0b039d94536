package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/bulwark-k8s/bulwark/internal/analyze/netpol"
	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/report"
)

// analysis loads the input (files or cluster) and analyses it.
func (f *sourceFlags) netpolAnalysis(cmd *cobra.Command, s Streams) (*netpol.Analysis, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	var objs []*k8s.Object
	if f.live() {
		cfg, _, err := f.restConfig()
		if err != nil {
			return nil, err
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, usageError(err)
		}
		if objs, err = netpol.FromCluster(cmd.Context(), client); err != nil {
			return nil, err
		}
	} else {
		var err error
		if objs, err = f.load(s); err != nil {
			return nil, err
		}
	}
	in, err := netpol.Parse(objs)
	if err != nil {
		return nil, usageError(err)
	}
	return netpol.New(in), nil
}

func newNetpolCommand(s Streams) *cobra.Command {
	f := &sourceFlags{}
	var (
		output     string
		filter     netpol.Filter
		noExternal bool
	)
	cmd := &cobra.Command{
		Use:   "netpol",
		Short: "Connectivity NetworkPolicies allow: between workloads, namespaces and the outside",
		Long: `Computes which workloads (pod controllers and bare pods) may connect to which,
and to and from addresses outside the cluster, under the NetworkPolicies of
the input (-f, repeatable) or a live cluster (--kubeconfig). A connection is
allowed when the source's egress and the destination's ingress both allow
it; a pod no policy selects is open in that direction.

Without a subcommand it prints one line per allowed connection:
"src => dst : TCP 8080" (or "all ports"). Outside addresses appear as
"internet" (any address outside every ipBlock CIDR the policies name) and as
the CIDR ranges the policies tell apart.`,
		Example: `  bulwark netpol -f manifests/
  bulwark netpol -f manifests/ --from 'production/*' --to 'dev/*'
  bulwark netpol -f manifests/ -o dot | dot -Tsvg > netpol.svg
  bulwark netpol matrix -f manifests/
  bulwark netpol can-reach production/centos dev/imageclassifierweb --port 80/TCP -f manifests/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := netpol.CheckFormat(output); err != nil {
				return usageError(err)
			}
			filter.External = !noExternal
			if err := netpol.ValidateFilter(filter); err != nil {
				return usageError(err)
			}
			a, err := f.netpolAnalysis(cmd, s)
			if err != nil {
				return err
			}
			return a.WriteConnections(s.Out, output, a.Connections(filter))
		},
	}
	f.bind(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: "+strings.Join(netpol.Formats, ", "))
	cmd.Flags().StringVar(&filter.From, "from", "", "only connections from endpoints matching this pattern (prod/*, */web, internet)")
	cmd.Flags().StringVar(&filter.To, "to", "", "only connections to endpoints matching this pattern")
	cmd.Flags().BoolVar(&noExternal, "no-external", false, "leave out connections to and from outside addresses")
	cmd.AddCommand(newNetpolMatrixCommand(s), newNetpolCanReachCommand(s), newNetpolFindingsCommand(s))
	return cmd
}

func newNetpolMatrixCommand(s Streams) *cobra.Command {
	f := &sourceFlags{}
	var output string
	cmd := &cobra.Command{
		Use:   "matrix",
		Short: "Namespace × namespace connectivity matrix",
		Long: `Prints, for every pair of namespaces (and the internet), whether the workloads
of the first may connect to those of the second: "all" (every pair, every
port), "none", "some (allowed/pairs)", or "-" when there is no pair.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := netpol.CheckFormat(output); err != nil || output == "dot" {
				return usageError(fmt.Errorf("unknown output format %q (want text, json, csv or md)", output))
			}
			a, err := f.netpolAnalysis(cmd, s)
			if err != nil {
				return err
			}
			return netpol.WriteMatrix(s.Out, output, a.Matrix())
		},
	}
	f.bind(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json, csv, md")
	return cmd
}

func newNetpolCanReachCommand(s Streams) *cobra.Command {
	f := &sourceFlags{}
	var port string
	cmd := &cobra.Command{
		Use:   "can-reach SRC DST [--port PORT[/PROTOCOL]]",
		Short: "Answer whether one endpoint may connect to another",
		Long: `Prints yes or no and exits 0 or 1. SRC and DST are NAMESPACE/WORKLOAD (or
NAMESPACE/KIND/WORKLOAD when a name is shared), "internet" for an outside
address, or an IP address. Without --port the answer is yes when any port is
allowed; --port takes 8080, 8080/TCP, 53/UDP or a named port of the
destination (http/TCP).`,
		Example: `  bulwark netpol can-reach production/centos dev/imageclassifierweb -f manifests/
  bulwark netpol can-reach dev/imageclassifierweb internet --port 443/TCP -f manifests/`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				proto, name string
				num         int
			)
			if port != "" {
				var err error
				if proto, num, name, err = netpol.ParsePort(port); err != nil {
					return usageError(err)
				}
			}
			a, err := f.netpolAnalysis(cmd, s)
			if err != nil {
				return err
			}
			src, err := a.Find(args[0])
			if err != nil {
				return usageError(err)
			}
			dst, err := a.Find(args[1])
			if err != nil {
				return usageError(err)
			}
			ports := a.Reach(src, dst)
			ok := !ports.Empty()
			if port != "" {
				if name != "" {
					num = 0
					if dst.Workload != nil {
						for _, cp := range dst.Workload.Ports {
							if cp.Name == name && cp.Protocol == proto {
								num = int(cp.Port)
							}
						}
					}
					if num == 0 {
						return usageError(fmt.Errorf("%s has no port named %s/%s", args[1], name, proto))
					}
				}
				ok = ports.Contains(proto, num)
			}
			if ok {
				fmt.Fprintln(s.Out, "yes")
				return nil
			}
			fmt.Fprintln(s.Out, "no")
			return &ExitError{Code: ExitFindings}
		},
	}
	f.bind(cmd.Flags())
	cmd.Flags().StringVar(&port, "port", "", "port to ask about: PORT[/PROTOCOL] (TCP when omitted) or a named port")
	return cmd
}

func newNetpolFindingsCommand(s Streams) *cobra.Command {
	f := &sourceFlags{}
	var (
		output, failOn string
		skip           []string
	)
	cmd := &cobra.Command{
		Use:   "findings",
		Short: "Report network segmentation findings (checks BW-ANL-050 to BW-ANL-053)",
		Long: `Reports namespaces without default-deny ingress or egress, workloads
reachable from every namespace, and policies allowing egress to the internet
(REQ-07, PRAC-NETPOL). kube-system, kube-public and kube-node-lease are not
reported on unless --skip-namespace replaces that list. Exits 1 when a
finding is at or above --fail-on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := report.CheckFormat(output); err != nil {
				return usageError(err)
			}
			sev, err := controls.ParseSeverity(failOn)
			if err != nil {
				return usageError(fmt.Errorf("--fail-on: %w", err))
			}
			a, err := f.netpolAnalysis(cmd, s)
			if err != nil {
				return err
			}
			opts := netpol.Options{}
			if cmd.Flags().Changed("skip-namespace") {
				opts.SkipNamespaces = append([]string{}, skip...)
			}
			in := a.Input()
			objects := len(in.Namespaces) + len(in.Workloads) + len(in.Policies)
			return writeFindings(s, output, netpol.Checks(), a.Coverage(opts), a.Findings(opts), f.inputs(), objects, sev)
		},
	}
	f.bind(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: "+strings.Join(report.Formats, ", "))
	cmd.Flags().StringVar(&failOn, "fail-on", "high", "exit 1 when a finding is at or above this severity: info, low, medium, high, critical, none")
	cmd.Flags().StringArrayVar(&skip, "skip-namespace", nil, "namespace not to report on (repeatable; replaces the default kube-system, kube-public, kube-node-lease)")
	return cmd
}
