package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/internal/analyze/rbac"
	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/report"
)

// sourceFlags choose where an analyzer reads the cluster from: manifests
// (-f, repeatable) or a live cluster (--kubeconfig).
type sourceFlags struct {
	files       []string
	kubeconfig  string
	kubecontext string
	maxFileSize int64
}

func (f *sourceFlags) bind(fl *pflag.FlagSet) {
	fl.StringArrayVarP(&f.files, "filename", "f", nil, "manifest file or directory to read, - for standard input (repeatable)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "read a live cluster through this kubeconfig instead of files")
	fl.StringVar(&f.kubecontext, "context", "", "kubeconfig context to use (with --kubeconfig)")
	fl.Int64Var(&f.maxFileSize, "max-file-size", k8s.DefaultMaxFileSize, "largest manifest file read, in bytes")
}

func (f *sourceFlags) validate() error {
	switch {
	case len(f.files) == 0 && f.kubeconfig == "":
		return usageError(errors.New("give manifests with -f FILE (repeatable) or a cluster with --kubeconfig"))
	case len(f.files) > 0 && f.kubeconfig != "":
		return usageError(errors.New("-f and --kubeconfig are exclusive"))
	case f.kubecontext != "" && f.kubeconfig == "":
		return usageError(errors.New("--context needs --kubeconfig"))
	}
	return nil
}

func (f *sourceFlags) live() bool { return f.kubeconfig != "" }

// load reads the manifests; every decode error is an input error (exit 2).
func (f *sourceFlags) load(s Streams) ([]*k8s.Object, error) {
	objs, err := k8s.Loader{Stdin: s.In, MaxFileSize: f.maxFileSize}.Load(f.files...)
	if err != nil {
		return nil, usageError(err)
	}
	return objs, nil
}

// restConfig builds a client configuration from the kubeconfig and returns
// the context's namespace ("default" when it names none).
func (f *sourceFlags) restConfig() (*rest.Config, string, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: f.kubeconfig}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.kubecontext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", usageError(fmt.Errorf("kubeconfig %s: %w", f.kubeconfig, err))
	}
	cfg.Timeout = 30 * time.Second
	cfg.QPS, cfg.Burst = 50, 100 // discovery and paginated lists, once
	ns, _, err := cc.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	return cfg, ns, nil
}

// rbacSource is what every rbac subcommand starts from.
type rbacSource struct {
	sourceFlags
	noBootstrap bool
}

// snapshot loads the RBAC snapshot, the resource mapper and the default
// namespace.
func (f *rbacSource) snapshot(cmd *cobra.Command, s Streams) (*rbac.Snapshot, *rbac.Mapper, string, error) {
	if err := f.validate(); err != nil {
		return nil, nil, "", err
	}
	m := rbac.NewMapper()
	if f.live() {
		cfg, ns, err := f.restConfig()
		if err != nil {
			return nil, nil, "", err
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, nil, "", usageError(err)
		}
		snap, err := rbac.FromCluster(cmd.Context(), client)
		if err != nil {
			return nil, nil, "", err
		}
		if err := m.AddDiscovery(client.Discovery()); err != nil {
			fmt.Fprintf(s.Err, "warning: %v\n", err)
		}
		return snap, m, ns, nil
	}
	objs, err := f.load(s)
	if err != nil {
		return nil, nil, "", err
	}
	m.AddCRDs(objs)
	snap, err := rbac.Load(objs, rbac.LoadOptions{Bootstrap: !f.noBootstrap})
	if err != nil {
		return nil, nil, "", usageError(err)
	}
	return snap, m, "default", nil
}

func (f *rbacSource) bind(fl *pflag.FlagSet) {
	f.sourceFlags.bind(fl)
	fl.BoolVar(&f.noBootstrap, "no-bootstrap", false, "do not add Kubernetes' built-in roles and bindings (cluster-admin, admin, edit, view, system:*) to manifests")
}

func newRBACCommand(s Streams) *cobra.Command {
	f := &rbacSource{}
	var output string
	var withBootstrap bool
	cmd := &cobra.Command{
		Use:   "rbac",
		Short: "Effective RBAC permissions: per subject, who can, can a user",
		Long: `Resolves Roles, ClusterRoles (aggregated ones from their aggregationRule),
RoleBindings and ClusterRoleBindings exactly as the API server's RBAC
authorizer does, from manifests (-f) or a live cluster (--kubeconfig).

Without a subcommand it prints every subject's grants: one line per rule, with
the scope (a namespace, or * for a ClusterRoleBinding) and the binding and
role it comes from. Manifests are read together with Kubernetes' built-in
roles and bindings (--no-bootstrap to leave them out), so a binding to view,
edit, admin or cluster-admin means what it means in a cluster; their own
grants are listed only with --bootstrap-grants.`,
		Example: `  bulwark rbac -f rbac/
  bulwark rbac can create pods --as reader -n production -f rbac/
  bulwark rbac who-can get secrets -n dev --kubeconfig ~/.kube/config
  bulwark rbac findings -f rbac/ --allow ServiceAccount:argocd:*`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return usageError(fmt.Errorf("unknown output format %q (want table or json)", output))
			}
			snap, _, _, err := f.snapshot(cmd, s)
			if err != nil {
				return err
			}
			grants := snap.Permissions(withBootstrap || f.live())
			if output == "json" {
				return writeGrantsJSON(s.Out, grants)
			}
			return writeGrantsTable(s.Out, grants, true)
		},
	}
	f.bind(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json")
	cmd.Flags().BoolVar(&withBootstrap, "bootstrap-grants", false, "also list the grants of Kubernetes' built-in bindings")
	cmd.AddCommand(newRBACWhoCanCommand(s), newRBACCanCommand(s), newRBACFindingsCommand(s))
	return cmd
}

func newRBACWhoCanCommand(s Streams) *cobra.Command {
	f := &rbacSource{}
	var (
		output, namespace, subresource string
		allNamespaces                  bool
	)
	cmd := &cobra.Command{
		Use:   "who-can VERB RESOURCE[/SUBRESOURCE][/NAME] | who-can VERB /URL",
		Short: "List the subjects that may do something",
		Long: `Lists every subject (user, group, service account) whose bindings allow the
request, with the binding and role that allow it. RESOURCE takes what kubectl
takes: pods, po, deployments.apps, pods/exec; a path starting with / is a
non-resource URL. The group system:masters is always listed: kube-apiserver
lets its members do anything. A group means every member of the group.`,
		Example: `  bulwark rbac who-can create pods/exec -n production -f rbac/
  bulwark rbac who-can get secrets --all-namespaces --kubeconfig ~/.kube/config`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return usageError(fmt.Errorf("unknown output format %q (want table or json)", output))
			}
			snap, m, defaultNS, err := f.snapshot(cmd, s)
			if err != nil {
				return err
			}
			req, warns, err := m.ParseTarget(args[0], args[1], subresource)
			if err != nil {
				return usageError(err)
			}
			for _, w := range warns {
				fmt.Fprintf(s.Err, "Warning: %s\n", w)
			}
			if req.IsResourceRequest() {
				req.Namespace = requestNamespace(namespace, defaultNS, allNamespaces)
			}
			grants := snap.WhoCan(req)
			if output == "json" {
				return writeGrantsJSON(s.Out, grants)
			}
			return writeGrantsTable(s.Out, grants, false)
		},
	}
	f.bind(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace of the request (default: the kubeconfig context's, or default)")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "ask about all namespaces at once (only ClusterRoleBindings count)")
	cmd.Flags().StringVar(&subresource, "subresource", "", "subresource, such as log or exec")
	return cmd
}

func newRBACCanCommand(s Streams) *cobra.Command {
	f := &rbacSource{}
	var (
		namespace, subresource, as string
		asGroups                   []string
		allNamespaces, why         bool
	)
	cmd := &cobra.Command{
		Use:   "can VERB RESOURCE[/NAME] --as USER [--as-group GROUP]... | can VERB /URL --as USER",
		Short: "Answer kubectl auth can-i for a user, from manifests or a cluster",
		Long: `Prints yes or no, and exits 0 or 1, as kubectl auth can-i --as USER would.
RESOURCE takes kubectl's forms (pods, po, deployments.apps, deployments.v1.apps,
RESOURCE/NAME) and also RESOURCE/SUBRESOURCE for a known subresource
(pods/exec, deployments/scale, serviceaccounts/token); with --subresource the
part after / is always a name, as in kubectl. A path starting with / is a
non-resource URL.

The user is built as impersonation builds it: system:serviceaccount:NS:NAME
is a service account and, without --as-group, in system:serviceaccounts and
system:serviceaccounts:NS; every user is in system:authenticated;
system:masters may do anything.`,
		Example: `  bulwark rbac can create pods --as reader -n production -f rbac/
  bulwark rbac can get secrets/db --as system:serviceaccount:dev:web -n dev -f rbac/
  bulwark rbac can create pods/exec --as alice --as-group developers -n dev -f rbac/`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				return usageError(errors.New("--as USER is required"))
			}
			snap, m, defaultNS, err := f.snapshot(cmd, s)
			if err != nil {
				return err
			}
			req, warns, err := m.ParseTarget(args[0], args[1], subresource)
			if err != nil {
				return usageError(err)
			}
			for _, w := range warns {
				fmt.Fprintf(s.Err, "Warning: %s\n\n", w)
			}
			if req.IsResourceRequest() {
				req.Namespace = requestNamespace(namespace, defaultNS, allNamespaces)
				if req.Namespace != "" && req.Resource != "*" && !m.Namespaced(req.APIGroup, req.Resource) {
					fmt.Fprintf(s.Err, "Warning: resource '%s' is not namespace scoped\n\n", req.Resource)
				}
			}
			d := snap.Authorize(rbac.Impersonate(as, asGroups), req)
			answer := "no"
			if d.Allowed {
				answer = "yes"
			}
			if why && d.Reason != "" {
				answer += " (" + d.Reason + ")"
			}
			fmt.Fprintln(s.Out, answer)
			if !d.Allowed {
				return &ExitError{Code: ExitFindings}
			}
			return nil
		},
	}
	f.bind(cmd.Flags())
	cmd.Flags().StringVar(&as, "as", "", "user to ask for (system:serviceaccount:NS:NAME for a service account)")
	cmd.Flags().StringArrayVar(&asGroups, "as-group", nil, "group of the user (repeatable)")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace of the request (default: the kubeconfig context's, or default)")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "ask about all namespaces at once (only ClusterRoleBindings count)")
	cmd.Flags().StringVar(&subresource, "subresource", "", "subresource, such as log or exec")
	cmd.Flags().BoolVar(&why, "why", false, "after yes, print the binding and role that allow it")
	return cmd
}

func newRBACFindingsCommand(s Streams) *cobra.Command {
	f := &rbacSource{}
	var (
		output, failOn, protectedNS string
		allow                       []string
		noDefaultExemptions         bool
	)
	cmd := &cobra.Command{
		Use:   "findings",
		Short: "Report dangerous permissions (checks BW-ANL-001 to BW-ANL-010)",
		Long: `Reports, per binding and subject, the permissions that break least privilege
(REQ-02): reading secrets, creating workloads, exec/attach, escalate/bind/
impersonate, nodes/proxy, wildcards, writing admission configuration, CRDs or
Bulwark's own objects, and creating service account tokens. Kubernetes' own
controller identities are exempt (--no-default-exemptions to report them);
--allow exempts more. Exits 1 when a finding is at or above --fail-on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := report.CheckFormat(output); err != nil {
				return usageError(err)
			}
			sev, err := controls.ParseSeverity(failOn)
			if err != nil {
				return usageError(fmt.Errorf("--fail-on: %w", err))
			}
			if err := rbac.ValidateAllow(allow); err != nil {
				return usageError(err)
			}
			snap, _, _, err := f.snapshot(cmd, s)
			if err != nil {
				return err
			}
			findings := snap.Findings(rbac.Options{Allow: allow, NoDefaultExemptions: noDefaultExemptions, ProtectedNamespace: protectedNS})
			return writeFindings(s, output, rbac.Checks(), snap.Coverage(), findings, f.inputs(), snap.InputBindings(), sev)
		},
	}
	f.bind(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: "+strings.Join(report.Formats, ", "))
	cmd.Flags().StringVar(&failOn, "fail-on", "high", "exit 1 when a finding is at or above this severity: info, low, medium, high, critical, none")
	cmd.Flags().StringArrayVar(&allow, "allow", nil, "exempt subjects: User:NAME, Group:NAME, ServiceAccount:NAMESPACE:NAME; * matches anything (repeatable)")
	cmd.Flags().BoolVar(&noDefaultExemptions, "no-default-exemptions", false, "report Kubernetes' own controller identities too")
	cmd.Flags().StringVar(&protectedNS, "bulwark-namespace", "bulwark-system", "Bulwark's namespace, whose writers BW-ANL-009 reports")
	return cmd
}

func (f *sourceFlags) inputs() []string {
	if f.live() {
		return []string{"cluster (" + f.kubeconfig + ")"}
	}
	return f.files
}

// writeFindings prints an analyzer's findings with the summary rows of its
// requirements, and turns findings at or above failOn into exit 1.
func writeFindings(s Streams, format string, checks []controls.Check, cov controls.Coverage, findings []controls.Finding, inputs []string, objects int, failOn controls.Severity) error {
	cat, err := controls.NewCatalog(checks...)
	if err != nil {
		return err
	}
	reqs := map[string]bool{}
	for _, c := range checks {
		for _, r := range c.Requirements {
			reqs[r] = true
		}
	}
	var summary []controls.RequirementStatus
	for _, row := range controls.Summarize(cat, cov, findings) {
		if reqs[row.ID] {
			summary = append(summary, row)
		}
	}
	rep := &report.Report{Tool: "bulwark", Version: Version, Inputs: inputs, Objects: objects, Summary: summary, Findings: findings, Catalog: cat}
	if err := report.Write(s.Out, format, rep); err != nil {
		return err
	}
	for _, f := range findings {
		if f.Severity >= failOn {
			return &ExitError{Code: ExitFindings}
		}
	}
	return nil
}

// requestNamespace is kubectl's choice: -n, else the context's namespace;
// --all-namespaces asks cluster-wide.
func requestNamespace(flag, fallback string, all bool) string {
	switch {
	case all:
		return ""
	case flag != "":
		return flag
	}
	return fallback
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError(err)
		}
		return nil
	}
}

func writeGrantsTable(w io.Writer, grants []rbac.Grant, perRule bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if perRule {
		fmt.Fprintln(tw, "SUBJECT\tSCOPE\tVERBS\tRESOURCES\tVIA")
	} else {
		fmt.Fprintln(tw, "SUBJECT\tSCOPE\tVIA")
	}
	for _, g := range grants {
		scope := g.Namespace
		if scope == "" {
			scope = "*"
		}
		if !perRule {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Subject, scope, g.Via())
			continue
		}
		if len(g.Rules) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t\t(none)\t%s\n", g.Subject, scope, g.Via())
		}
		for _, r := range g.Rules {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.Subject, scope, strings.Join(r.Verbs, ","), ruleTargets(r), g.Via())
		}
	}
	return tw.Flush()
}

// ruleTargets renders a rule's resources as kubectl names them
// (deployments.apps, pods/exec), with resourceNames, or its URLs.
func ruleTargets(r rbacv1.PolicyRule) string {
	if len(r.NonResourceURLs) > 0 {
		return strings.Join(r.NonResourceURLs, ",")
	}
	var out []string
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			name, sub, hasSub := strings.Cut(res, "/")
			if g != "" {
				name += "." + g
			}
			if hasSub {
				name += "/" + sub
			}
			out = append(out, name)
		}
	}
	s := strings.Join(out, ",")
	if len(r.ResourceNames) > 0 {
		s += " [" + strings.Join(r.ResourceNames, ",") + "]"
	}
	return s
}

type grantJSON struct {
	Subject   rbac.Subject        `json:"subject"`
	Namespace string              `json:"namespace,omitempty"`
	Binding   string              `json:"binding,omitempty"`
	Role      string              `json:"role,omitempty"`
	Bootstrap bool                `json:"bootstrap,omitempty"`
	File      string              `json:"file,omitempty"`
	Line      int                 `json:"line,omitempty"`
	Rules     []rbacv1.PolicyRule `json:"rules"`
}

func writeGrantsJSON(w io.Writer, grants []rbac.Grant) error {
	out := make([]grantJSON, 0, len(grants))
	for _, g := range grants {
		j := grantJSON{Subject: g.Subject, Namespace: g.Namespace, Rules: g.Rules}
		if g.Binding != nil {
			j.Binding, j.Bootstrap, j.File, j.Line = g.Binding.Ref(), g.Binding.Bootstrap, g.Binding.File, g.Binding.Line
			j.Role = g.Binding.RoleRef.Kind + "/" + g.Binding.RoleRef.Name
			if g.Role != nil {
				j.Role = g.Role.Ref()
			}
		}
		if j.Rules == nil {
			j.Rules = []rbacv1.PolicyRule{}
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
