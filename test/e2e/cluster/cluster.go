package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Built-in users. Every cluster has them in its token file; Options.Users
// adds more.
const (
	// AdminUser is in group system:masters: it may do anything.
	AdminUser = "admin"
	// ReaderUser has no permission of its own; tests bind roles to it.
	ReaderUser = "reader"
	// DeveloperUser is in group "developers" and has no permission of its
	// own either.
	DeveloperUser = "developer"
)

// User is a user of the apiserver's token file. Every authenticated user is
// also in system:authenticated.
type User struct {
	Name   string
	Groups []string
}

// Options configure a cluster. The zero value starts etcd and kube-apiserver
// with RBAC and the apiserver's default admission plugins.
type Options struct {
	// Users are added to the built-in admin, reader and developer.
	Users []User

	// EnableAdmissionPlugins is passed as --enable-admission-plugins (added
	// to the default plugins, which stay on).
	EnableAdmissionPlugins []string
	// AdmissionControlConfigFile is passed as
	// --admission-control-config-file.
	AdmissionControlConfigFile string
	// AuditPolicyFile is passed as --audit-policy-file.
	AuditPolicyFile string
	// AuditWebhookConfigFile is passed as --audit-webhook-config-file; see
	// WriteWebhookKubeconfig.
	AuditWebhookConfigFile string
	// AuditWebhookBatchMaxWait is passed as --audit-webhook-batch-max-wait
	// when set (the apiserver's default is 30s).
	AuditWebhookBatchMaxWait time.Duration
	// APIServerFlags are appended to kube-apiserver's command line; a
	// single-valued flag given here wins over the one the package sets.
	APIServerFlags []string

	// ControllerManager starts kube-controller-manager too.
	ControllerManager bool
	// Controllers is passed as --controllers; empty means
	// DefaultControllers().
	Controllers []string
	// ControllerManagerFlags are appended to kube-controller-manager's
	// command line.
	ControllerManagerFlags []string

	// StartTimeout bounds the wait for each component to become ready;
	// zero means two minutes.
	StartTimeout time.Duration
}

// DefaultControllers returns the controllers started when
// Options.Controllers is empty: enough for aggregated ClusterRoles (view,
// edit, admin), default ServiceAccounts and their tokens, and namespace
// deletion.
func DefaultControllers() []string {
	return []string{"clusterrole-aggregation", "serviceaccount", "serviceaccount-token", "namespace"}
}

// Cluster is a running control plane. Start returns it; it is stopped when
// the test that started it ends, or earlier by Stop.
type Cluster struct {
	dir      string
	bin      binaries
	server   string // https://127.0.0.1:port
	caFile   string
	saKey    string
	tokens   map[string]string // user name → token
	configs  map[string]string // user name → kubeconfig path
	procs    []*process        // in start order
	stopOnce sync.Once
}

// Start starts a control plane for the test t and waits until it is ready.
// ctx bounds only the start; the processes live until t ends or Stop is
// called. Any failure, a missing binary included, fails t.
func Start(ctx context.Context, t testing.TB, opts Options) *Cluster {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	bin, err := findBinaries(wd)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	c := &Cluster{
		dir:     t.TempDir(), // before t.Cleanup below, so it is removed after the processes stop
		bin:     bin,
		tokens:  map[string]string{},
		configs: map[string]string{},
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			for _, p := range c.procs {
				t.Logf("last lines of %s log (%s):\n%s", p.name, p.logPath, p.tail(60))
			}
		}
	})
	if err := c.start(ctx, opts); err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	return c
}

// Server returns the apiserver's URL.
func (c *Cluster) Server() string { return c.server }

// CAFile returns the path of the bundle that verifies the apiserver's
// serving certificate.
func (c *Cluster) CAFile() string { return c.caFile }

// Dir returns the cluster's working directory (logs, keys, kubeconfigs).
func (c *Cluster) Dir() string { return c.dir }

// Kubeconfig returns the path of the admin's kubeconfig.
func (c *Cluster) Kubeconfig() string { return c.configs[AdminUser] }

// KubeconfigFor returns the path of user's kubeconfig, or "" for a user not
// in the token file.
func (c *Cluster) KubeconfigFor(user string) string { return c.configs[user] }

// Token returns user's bearer token, or "" for a user not in the token file.
func (c *Cluster) Token(user string) string { return c.tokens[user] }

// Stop stops every component, newest first, and waits for them to exit. It
// may be called more than once.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for _, p := range slices.Backward(c.procs) {
			p.stop(10 * time.Second)
		}
	})
}

func (c *Cluster) start(ctx context.Context, opts Options) error {
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	for _, d := range []string{"etcd", "pki", "home"} {
		if err := os.MkdirAll(filepath.Join(c.dir, d), 0o700); err != nil {
			return fmt.Errorf("create %s dir: %w", d, err)
		}
	}
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	if err := c.startEtcd(ctx, etcdURL, ports[1], timeout); err != nil {
		return err
	}
	c.server = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	c.caFile = filepath.Join(c.dir, "pki", "apiserver.crt")
	if err := c.writeUsers(opts.Users); err != nil {
		return err
	}
	c.saKey = filepath.Join(c.dir, "pki", "sa.key")
	if err := writeServiceAccountKey(c.saKey); err != nil {
		return err
	}
	if err := c.startAPIServer(ctx, opts, etcdURL, ports[2], timeout); err != nil {
		return err
	}
	if opts.ControllerManager {
		if err := c.startControllerManager(ctx, opts, ports[3], timeout); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) startEtcd(ctx context.Context, clientURL string, peerPort int, timeout time.Duration) error {
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := c.run("etcd", c.bin.etcd, []string{
		"--name=e2e",
		"--data-dir=" + filepath.Join(c.dir, "etcd"),
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=e2e=" + peerURL,
		"--initial-cluster-state=new",
		"--logger=zap",
		"--log-outputs=stderr",
	})
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	return waitReady(ctx, p, timeout, func(ctx context.Context) error {
		return getOK(ctx, client, clientURL+"/health", "", `"health":"true"`)
	})
}

func (c *Cluster) startAPIServer(ctx context.Context, opts Options, etcdURL string, port int, timeout time.Duration) error {
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The endpoint reconcilers refuse a loopback advertise address;
		// nothing here routes to the kubernetes Service anyway.
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.dir, "pki"),
		"--token-auth-file=" + filepath.Join(c.dir, "tokens.csv"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.saKey,
		"--service-account-signing-key-file=" + c.saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		// Like every real cluster: a privileged pod is for admission to
		// judge, not rejected by the apiserver's own validation.
		"--allow-privileged=true",
		"--v=1",
	}
	if len(opts.EnableAdmissionPlugins) > 0 {
		args = append(args, "--enable-admission-plugins="+strings.Join(opts.EnableAdmissionPlugins, ","))
	}
	if opts.AdmissionControlConfigFile != "" {
		args = append(args, "--admission-control-config-file="+opts.AdmissionControlConfigFile)
	}
	if opts.AuditPolicyFile != "" {
		args = append(args, "--audit-policy-file="+opts.AuditPolicyFile)
	}
	if opts.AuditWebhookConfigFile != "" {
		args = append(args, "--audit-webhook-config-file="+opts.AuditWebhookConfigFile)
	}
	if opts.AuditWebhookBatchMaxWait > 0 {
		args = append(args, "--audit-webhook-batch-max-wait="+opts.AuditWebhookBatchMaxWait.String())
	}
	args = append(args, opts.APIServerFlags...)
	p, err := c.run("kube-apiserver", c.bin.apiserver, args)
	if err != nil {
		return err
	}
	err = waitReady(ctx, p, timeout, func(ctx context.Context) error {
		client, err := httpsClient(c.caFile)
		if err != nil {
			return err // the apiserver has not written its certificate yet
		}
		return getOK(ctx, client, c.server+"/readyz", c.tokens[AdminUser], "ok")
	})
	if err != nil {
		return err
	}
	for user, token := range c.tokens {
		b, err := kubeconfig(c.server, c.caFile, nil, user, token)
		if err != nil {
			return err
		}
		path := filepath.Join(c.dir, "kubeconfig-"+user)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return fmt.Errorf("write kubeconfig %s: %w", path, err)
		}
		c.configs[user] = path
	}
	return nil
}

func (c *Cluster) startControllerManager(ctx context.Context, opts Options, port int, timeout time.Duration) error {
	controllers := opts.Controllers
	if len(controllers) == 0 {
		controllers = DefaultControllers()
	}
	certDir := filepath.Join(c.dir, "kcm-pki")
	args := []string{
		"--kubeconfig=" + c.Kubeconfig(),
		"--authentication-kubeconfig=" + c.Kubeconfig(),
		"--authorization-kubeconfig=" + c.Kubeconfig(),
		"--controllers=" + strings.Join(controllers, ","),
		"--service-account-private-key-file=" + c.saKey,
		"--root-ca-file=" + c.caFile,
		"--use-service-account-credentials=false",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + certDir,
		"--v=1",
	}
	args = append(args, opts.ControllerManagerFlags...)
	p, err := c.run("kube-controller-manager", c.bin.controllerManager, args)
	if err != nil {
		return err
	}
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	return waitReady(ctx, p, timeout, func(ctx context.Context) error {
		client, err := httpsClient(filepath.Join(certDir, "kube-controller-manager.crt"))
		if err != nil {
			return err
		}
		return getOK(ctx, client, url, "", "ok")
	})
}

// run starts a component with its log in the cluster's directory and
// records it for Stop.
func (c *Cluster) run(name, bin string, args []string) (*process, error) {
	p, err := startProcess(name, filepath.Join(c.dir, name+".log"), bin, args)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// writeUsers generates a token for every user and writes the apiserver's
// token file.
func (c *Cluster) writeUsers(extra []User) error {
	users := append([]User{
		{Name: AdminUser, Groups: []string{"system:masters"}},
		{Name: ReaderUser},
		{Name: DeveloperUser, Groups: []string{"developers"}},
	}, extra...)
	var b strings.Builder
	for i, u := range users {
		if _, dup := c.tokens[u.Name]; dup || u.Name == "" || strings.ContainsAny(u.Name, ",\"\n") {
			return fmt.Errorf("write token file: bad or duplicate user name %q", u.Name)
		}
		raw := make([]byte, 16)
		if _, err := rand.Read(raw); err != nil {
			return fmt.Errorf("generate token for %s: %w", u.Name, err)
		}
		token := hex.EncodeToString(raw)
		c.tokens[u.Name] = token
		// token,user,uid,"group1,group2"
		fmt.Fprintf(&b, "%s,%s,uid-%d,%q\n", token, u.Name, i, strings.Join(u.Groups, ","))
	}
	path := filepath.Join(c.dir, "tokens.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write token file %s: %w", path, err)
	}
	return nil
}

// waitReady calls probe every 250ms until it succeeds, p exits, ctx ends or
// timeout passes.
func waitReady(ctx context.Context, p *process, timeout time.Duration, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := p.exited(); err != nil {
			return err
		}
		err := probe(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to be ready: %w (last probe: %v)", p.name, ctx.Err(), err)
		case <-p.done:
		case <-tick.C:
		}
	}
}

// getOK GETs url (with a bearer token when set) and checks for status 200
// and a body containing want.
func getOK(ctx context.Context, client *http.Client, url, token, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	if err != nil {
		return fmt.Errorf("get %s: read body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("get %s: status %d: %s", url, resp.StatusCode, body)
	}
	return nil
}

// httpsClient returns a client trusting the certificates in caFile.
func httpsClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read CA bundle %s: no certificate in it", caFile)
	}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}, nil
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are free
// when returned; another process could still take one before it is used.
func freePorts(n int) ([]int, error) {
	var (
		ports []int
		errs  []error
	)
	listeners := make([]net.Listener, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			errs = append(errs, fmt.Errorf("find free port: %w", err))
			break
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("release port %s: %w", l.Addr(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ports, nil
}
