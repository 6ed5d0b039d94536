package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/internal/admission"
	"github.com/bulwark-k8s/bulwark/internal/audit/ingest"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/scan"
)

type serveFlags struct {
	admission     bool
	listen        string
	certFile      string
	keyFile       string
	clientCAFile  string
	config        string
	policies      []string
	kubeconfig    string
	kubecontext   string
	namespace     string
	failurePolicy string
	timeout       time.Duration
	mutate        bool
	mutateSecCtx  bool
	logLevel      string
	logFormat     string
	shutdownDelay time.Duration
	drainTimeout  time.Duration

	// Self-managed certificate (no --tls-cert-file).
	service       string
	certSecret    string
	certHosts     []string
	webhookConfig string
	caValidity    time.Duration
	certValidity  time.Duration
	certInterval  time.Duration

	auditInterval time.Duration
	leaderElect   bool
	metricsAuth   string

	audit auditServeFlags
}

func newServeCommand(s Streams) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve [--admission] [--audit]",
		Short: "Run bulwark's HTTPS server: the admission webhook, the audit pipeline, or both",
		Long: `Runs bulwark as a long-lived HTTPS server (TLS 1.2 or newer) with the components
chosen by flags, in a cluster or outside it:

  --admission   /validate and /mutate for admission.k8s.io/v1 AdmissionReviews,
                judged by the same engine, built-in library, bulwark.yaml and
                --policy files as bulwark scan.
  --audit       /audit for the API server's audit webhook backend
                (audit.k8s.io/v1 EventList, gzip accepted; a bearer token from
                --audit-token-file or a client certificate signed by
                --client-ca-file), and --audit-log files followed across
                rotation. Every event is archived first (a batch is answered
                200 once it is durable), then indexed for bulwark audit query
                and judged by the detection rules; alerts go to the sinks of
                bulwark.yaml's alerts (stdout when it names none).

Every server also has /healthz, /readyz (ready once every component is) and
/metrics (Prometheus). With a cluster (--kubeconfig, KUBECONFIG, or the pod's
service account), the objects policies read from data.inventory are watched
and kept current; without one, exec and attach into pods cannot be judged.

On SIGTERM or SIGINT the server stops being ready, waits --shutdown-delay,
stops accepting connections and finishes the reviews in flight (up to
--drain-timeout) before it exits.`,
		Example: `  bulwark serve --admission --tls-cert-file tls.crt --tls-key-file tls.key --config bulwark.yaml
  bulwark serve --admission --listen 127.0.0.1:9443 --kubeconfig ~/.kube/config --failure-policy fail --mutate
  bulwark serve --audit --audit-token-file tokens --data-dir /var/lib/bulwark/audit --config bulwark.yaml --tls-cert-file tls.crt --tls-key-file tls.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), s, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.admission, "admission", false, "serve the admission webhook (/validate, /mutate)")
	fl.StringVar(&f.listen, "listen", ":8443", "address of the HTTPS server")
	fl.StringVar(&f.certFile, "tls-cert-file", "", "PEM serving certificate (reloaded when it changes); without it bulwark issues its own, kept in --cert-secret")
	fl.StringVar(&f.keyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fl.StringVar(&f.clientCAFile, "client-ca-file", "", "PEM CA bundle: every path but /healthz and /readyz then needs a client certificate it signed (the API server's, given in its admission kubeconfig; Prometheus')")
	fl.StringVar(&f.config, "config", "", "bulwark.yaml (apiVersion bulwark.dev/v1alpha1, kind Config); built-in defaults when absent")
	fl.StringArrayVar(&f.policies, "policy", nil, "file or directory of ConstraintTemplates and constraints to add (repeatable)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: KUBECONFIG, ~/.kube/config, or the in-cluster service account)")
	fl.StringVar(&f.kubecontext, "context", "", "kubeconfig context to use")
	fl.StringVar(&f.namespace, "namespace", defaultNamespace(), "bulwark's own namespace (always exempt from admission)")
	fl.StringVar(&f.failurePolicy, "failure-policy", "ignore", "answer when a review cannot be completed: ignore (admit) or fail (deny); keep it equal to the webhook configuration's failurePolicy")
	fl.DurationVar(&f.timeout, "default-timeout", admission.DefaultTimeout, "webhook timeout assumed when a review does not carry one")
	fl.BoolVar(&f.mutate, "mutate", false, "mutating webhook sets imagePullPolicy: Always on every container (PRAC-PULL)")
	fl.BoolVar(&f.mutateSecCtx, "mutate-security-context", false, "mutating webhook fills in restricted securityContext defaults a pod leaves unset")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fl.DurationVar(&f.shutdownDelay, "shutdown-delay", 0, "on shutdown, time to keep serving while not ready (for endpoints to drop this pod)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on shutdown, longest wait for requests in flight")
	fl.StringVar(&f.service, "service", "bulwark", "bulwark's Service, whose DNS names the self-managed certificate is for")
	fl.StringVar(&f.certSecret, "cert-secret", "bulwark-webhook-tls", "Secret in --namespace holding the self-managed CA and serving certificate")
	fl.StringArrayVar(&f.certHosts, "cert-host", nil, "extra DNS name or IP address of the self-managed certificate (repeatable)")
	fl.StringVar(&f.webhookConfig, "webhook-configuration", admission.ConfigurationName, "validating and mutating webhook configurations that receive the self-managed CA bundle")
	fl.DurationVar(&f.caValidity, "ca-validity", 5*365*24*time.Hour, "validity of the self-managed CA")
	fl.DurationVar(&f.certValidity, "cert-validity", 365*24*time.Hour, "validity of the self-managed serving certificate (renewed with a third left)")
	fl.DurationVar(&f.certInterval, "cert-check-interval", time.Minute, "interval between checks of the self-managed certificate")
	fl.DurationVar(&f.auditInterval, "background-audit-interval", time.Minute, "period of the background audit of existing objects, written as PolicyReports (0 turns it off; needs a cluster)")
	fl.BoolVar(&f.leaderElect, "leader-elect", false, "run the background audit in one replica only, the holder of the Lease bulwark-audit in --namespace")
	fl.StringVar(&f.metricsAuth, "metrics-auth", "kubernetes", "who may read /metrics: kubernetes (a bearer token the cluster's TokenReview authenticates and whose user may get the non-resource URL /metrics, or a client certificate signed by --client-ca-file) or none (anyone: only on a trusted network)")
	f.audit.register(fl)
	for _, name := range []string{"ca-validity", "cert-validity", "cert-check-interval"} {
		_ = fl.MarkHidden(name) // for tests of rotation
	}
	return cmd
}

// defaultNamespace is the pod's namespace in a cluster (POD_NAMESPACE, set
// by bulwark's manifests), bulwark-system elsewhere.
func defaultNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "bulwark-system"
}

// component is one part of bulwark serve. Each registers its HTTP handlers
// on the one HTTPS server's mux, then Run does its background work until
// the context ends (and returns once that work has stopped); Ready is nil
// when it can serve. The admission webhook is one; the audit-webhook
// receiver (--audit) is meant to be another, added in serveComponents.
type component interface {
	Register(mux *http.ServeMux)
	Run(ctx context.Context) error
	Ready() error
}

// serveComponents builds the components the flags ask for. This is the one
// place a new component (such as --audit) is wired in.
func serveComponents(ctx context.Context, f *serveFlags, cluster *rest.Config, reg *prometheus.Registry, log *slog.Logger) ([]component, error) {
	var out []component
	if f.admission {
		c, err := newAdmissionComponent(ctx, f, cluster, reg, log)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if f.audit.enabled {
		c, err := newAuditComponent(ctx, f, reg, log)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, usageError(errors.New("nothing to serve: give --admission, --audit or both"))
	}
	return out, nil
}

func newAdmissionComponent(ctx context.Context, f *serveFlags, cluster *rest.Config, reg *prometheus.Registry, log *slog.Logger) (component, error) {
	cfg, err := loadConfig(f.config)
	if err != nil {
		return nil, usageError(err)
	}
	fp, err := admission.ParseFailurePolicy(f.failurePolicy)
	if err != nil {
		return nil, usageError(fmt.Errorf("--failure-policy: %w", err))
	}
	pols, err := scan.LoadPolicies(k8s.Loader{}, append(append([]string{}, cfg.Policies...), f.policies...))
	if err != nil {
		return nil, usageError(err)
	}
	eng, _, err := scan.NewEngine(ctx, cfg, pols, false)
	if err != nil {
		return nil, usageError(err)
	}
	exempt := append(append([]string{}, cfg.ExemptNamespaces...), f.namespace)
	var election *admission.LeaderElection
	if f.leaderElect {
		id := os.Getenv("POD_NAME")
		if id == "" {
			id, _ = os.Hostname()
		}
		election = &admission.LeaderElection{Namespace: f.namespace, Name: "bulwark-audit", Identity: id}
	}
	return admission.NewWebhook(admission.WebhookOptions{
		Engine: eng,
		Handler: admission.Options{
			FailurePolicy:    fp,
			ExemptNamespaces: exempt,
			Mutation:         admission.Mutation{ImagePullPolicyAlways: f.mutate, SecurityContextDefaults: f.mutateSecCtx},
			DefaultTimeout:   f.timeout,
		},
		Cluster:        cluster,
		AuditInterval:  f.auditInterval,
		LeaderElection: election,
		Metrics:        admission.NewMetrics(reg),
		Logger:         log,
	})
}

func runServe(ctx context.Context, s Streams, f *serveFlags) error {
	log, err := serveLogger(s, f.logLevel, f.logFormat)
	if err != nil {
		return usageError(err)
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return usageError(errors.New("--tls-cert-file and --tls-key-file go together"))
	}
	serveGC()
	cluster, err := clusterConfig(f.kubeconfig, f.kubecontext)
	if err != nil {
		return usageError(err)
	}
	if cluster == nil {
		log.Warn("no_cluster", "reason", "no kubeconfig and not in a cluster: policies see no inventory, exec and attach into pods are not judged")
	}
	certs, err := serveCertificates(ctx, f, cluster, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	comps, err := serveComponents(ctx, f, cluster, reg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	guard, err := metricsGuard(f, cluster, log)
	if err != nil {
		return err
	}
	return serve(ctx, ln, certs, f.clientCAFile, guard, comps, reg, log, f.shutdownDelay, f.drainTimeout)
}

// metricsGuard is the authentication of /metrics that --metrics-auth asks
// for; nil serves it to anyone.
func metricsGuard(f *serveFlags, cluster *rest.Config, log *slog.Logger) (func(http.Handler) http.Handler, error) {
	switch f.metricsAuth {
	case "none":
		log.Warn("metrics_unauthenticated", "reason", "--metrics-auth=none: anyone who reaches the server may read /metrics")
		return nil, nil
	case "kubernetes":
	default:
		return nil, usageError(fmt.Errorf("--metrics-auth: %q is not kubernetes or none", f.metricsAuth))
	}
	var client kubernetes.Interface
	if cluster != nil {
		c, err := kubernetes.NewForConfig(cluster)
		if err != nil {
			return nil, err
		}
		client = c
	} else if f.clientCAFile == "" {
		log.Warn("metrics_refused", "reason", "no cluster to review tokens and no --client-ca-file: /metrics answers 401 to everyone (--metrics-auth=none serves it unauthenticated)")
	}
	return admission.NewMetricsAuth(client, time.Minute).Wrap, nil
}

// serveCertificates is the serving certificate: the files given, or one
// bulwark issues and keeps in a Secret of its namespace.
func serveCertificates(ctx context.Context, f *serveFlags, cluster *rest.Config, log *slog.Logger) (admission.Certificates, error) {
	if f.certFile != "" {
		certs, err := admission.LoadCertFiles(f.certFile, f.keyFile, log)
		if err != nil {
			return nil, usageError(err)
		}
		return certs, nil
	}
	if cluster == nil {
		return nil, usageError(errors.New("without a cluster to keep a certificate in, give --tls-cert-file and --tls-key-file"))
	}
	client, err := kubernetes.NewForConfig(cluster)
	if err != nil {
		return nil, err
	}
	svc := f.service + "." + f.namespace
	m := admission.NewCertManager(admission.CertManagerOptions{
		Client:                client,
		Namespace:             f.namespace,
		SecretName:            f.certSecret,
		Hosts:                 append([]string{svc + ".svc", svc + ".svc.cluster.local", svc, f.service}, f.certHosts...),
		WebhookConfigurations: []string{f.webhookConfig},
		CAValidity:            f.caValidity,
		CertValidity:          f.certValidity,
		CheckInterval:         f.certInterval,
		Logger:                log,
	})
	// Serve only with a certificate: retry until there is one.
	wait := time.Second
	for {
		err := m.Ensure(ctx)
		if err == nil {
			return m, nil
		}
		log.Error("certificate_setup_failed", "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("serving certificate: %w", err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// serve runs the HTTPS server on ln and the components until ctx ends, then
// shuts down: not ready, shutdownDelay, no new connections, requests in
// flight finished (up to drainTimeout), components stopped.
func serve(ctx context.Context, ln net.Listener, certs admission.Certificates, clientCAFile string, metricsGuard func(http.Handler) http.Handler,
	comps []component, reg *prometheus.Registry,
	log *slog.Logger, shutdownDelay, drainTimeout time.Duration) error {
	tlsConfig := admission.ServerTLS(certs)
	var stopping sync.Once
	stopped := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-stopped:
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		default:
		}
		var errs []error
		for _, c := range comps {
			errs = append(errs, c.Ready())
		}
		if err := errors.Join(errs...); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	var metrics http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	open := []string{"/healthz", "/readyz", ingest.Path}
	if metricsGuard != nil {
		// The guard takes a client certificate or a bearer token.
		metrics = metricsGuard(metrics)
		open = append(open, "/metrics")
	}
	mux.Handle("/metrics", metrics)
	for _, c := range comps {
		c.Register(mux)
	}
	var handler http.Handler = mux
	if clientCAFile != "" {
		var err error
		if tlsConfig, err = admission.WithClientCA(tlsConfig, clientCAFile); err != nil {
			return usageError(err)
		}
		// The audit receiver authenticates its requests itself: a client
		// certificate or a bearer token.
		handler = admission.RequireClientCert(mux, open...)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}

	// Components and the certificate run until the server has drained.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	var wg sync.WaitGroup
	errs := make([]error, len(comps)+2)
	for i, c := range comps {
		wg.Go(func() { errs[i] = c.Run(runCtx) })
	}
	wg.Go(func() { errs[len(comps)] = certs.Run(runCtx) })

	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	log.Info("serving", "address", ln.Addr().String())

	select {
	case err := <-served:
		stopRun()
		wg.Wait()
		return fmt.Errorf("https server: %w", err)
	case <-ctx.Done():
	}
	stopping.Do(func() { close(stopped) })
	log.Info("shutting_down", "delay", shutdownDelay, "drain_timeout", drainTimeout)
	if shutdownDelay > 0 {
		time.Sleep(shutdownDelay)
	}
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		errs[len(comps)+1] = fmt.Errorf("drain requests in flight: %w", err)
		_ = srv.Close()
	}
	<-served
	stopRun()
	wg.Wait()
	log.Info("stopped")
	return errors.Join(errs...)
}

// clusterConfig returns the client configuration of the cluster: the
// kubeconfig given, else KUBECONFIG or ~/.kube/config, else the pod's
// service account; nil when there is none of them.
func clusterConfig(kubeconfig, kubecontext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubecontext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if kubeconfig == "" && clientcmd.IsEmptyConfig(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.Timeout = 30 * time.Second
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "bulwark/" + Version
	return cfg, nil
}

// serveGC sets the server's garbage collector target (see
// admission.GCPercent) unless GOGC says otherwise.
func serveGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(admission.GCPercent)
	}
}

// serveLogger is the long-running server's logger: info and above by
// default, as text or JSON lines on standard error.
func serveLogger(s Streams, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(s.Err, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(s.Err, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}
