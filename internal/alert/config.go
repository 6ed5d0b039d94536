package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/detect"
)

// Config is the alerts block of bulwark.yaml.
type Config struct {
	// Cluster names the cluster in every alert.
	Cluster string      `json:"cluster,omitempty" yaml:"cluster,omitempty"`
	Spool   SpoolConfig `json:"spool,omitzero" yaml:"spool,omitempty"`
	Dedup   DedupConfig `json:"dedup,omitzero" yaml:"dedup,omitempty"`
	// Routes send alerts to sinks by priority and tags. Without routes
	// every alert goes to every sink.
	Routes []RouteConfig `json:"routes,omitempty" yaml:"routes,omitempty"`
	Sinks  []SinkConfig  `json:"sinks,omitempty" yaml:"sinks,omitempty"`
}

// SpoolConfig configures the per-sink durable spools.
type SpoolConfig struct {
	// Dir holds one directory per sink (segments, acknowledged offset,
	// dead letters). Required unless Memory is set.
	Dir string `json:"dir,omitempty" yaml:"dir,omitempty"`
	// Memory keeps the queues in memory instead: alerts not yet delivered
	// are lost when the process ends. For tests and one-shot commands.
	Memory bool `json:"memory,omitempty" yaml:"memory,omitempty"`
	// MaxBytes bounds each sink's undelivered alerts (default 256Mi);
	// beyond it the oldest are dropped, with an error log.
	MaxBytes Size `json:"maxBytes,omitempty" yaml:"maxBytes,omitempty"`
	// MaxAge drops alerts not delivered within it (default 72h).
	MaxAge Duration `json:"maxAge,omitempty" yaml:"maxAge,omitempty"`
	// SegmentBytes is the size of one spool file (default 8Mi, at most
	// a quarter of MaxBytes).
	SegmentBytes Size `json:"segmentBytes,omitempty" yaml:"segmentBytes,omitempty"`
}

// DedupConfig configures the dedup window.
type DedupConfig struct {
	// Window drops an alert whose ID was seen less than Window ago
	// (default 60s; "0s" turns deduplication off).
	Window *Duration `json:"window,omitempty" yaml:"window,omitempty"`
	// MaxEntries bounds the IDs remembered (default 100000).
	MaxEntries int `json:"maxEntries,omitempty" yaml:"maxEntries,omitempty"`
}

// RouteConfig sends matching alerts to named sinks. An alert goes to the
// union of the sinks of every route it matches.
type RouteConfig struct {
	// MinPriority is the least severe priority routed (Falco names:
	// emergency, alert, critical, error, warning, notice, informational,
	// debug); empty routes every priority.
	MinPriority string `json:"minPriority,omitempty" yaml:"minPriority,omitempty"`
	// Tags route only alerts carrying at least one of them (a rule tag,
	// a check ID such as BW-DET-001, or a requirement such as REQ-05a).
	Tags []string `json:"tags,omitempty" yaml:"tags,omitempty"`
	// Sinks are sink names.
	Sinks []string `json:"sinks" yaml:"sinks"`
}

// SinkConfig is one named sink: its type, the block for that type, and
// the settings of its stages.
type SinkConfig struct {
	Name string `json:"name" yaml:"name"`
	// Type is one of stdout, file, webhook, ocsf, syslog, splunk,
	// azuremonitor, elasticsearch.
	Type string `json:"type" yaml:"type"`
	// BatchSize is the most alerts handed to the sink at once (default
	// per type).
	BatchSize int `json:"batchSize,omitempty" yaml:"batchSize,omitempty"`
	// Timeout bounds each outbound call (default 10s).
	Timeout   Duration        `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	Retry     RetryConfig     `json:"retry,omitzero" yaml:"retry,omitempty"`
	RateLimit RateLimitConfig `json:"rateLimit,omitzero" yaml:"rateLimit,omitempty"`

	File          *FileConfig          `json:"file,omitempty" yaml:"file,omitempty"`
	Webhook       *WebhookConfig       `json:"webhook,omitempty" yaml:"webhook,omitempty"`
	OCSF          *WebhookConfig       `json:"ocsf,omitempty" yaml:"ocsf,omitempty"`
	Syslog        *SyslogConfig        `json:"syslog,omitempty" yaml:"syslog,omitempty"`
	Splunk        *SplunkConfig        `json:"splunk,omitempty" yaml:"splunk,omitempty"`
	AzureMonitor  *AzureMonitorConfig  `json:"azureMonitor,omitempty" yaml:"azureMonitor,omitempty"`
	Elasticsearch *ElasticsearchConfig `json:"elasticsearch,omitempty" yaml:"elasticsearch,omitempty"`
}

// RetryConfig is the backoff between attempts: InitialBackoff doubling up
// to MaxBackoff, each wait drawn between half and all of it.
type RetryConfig struct {
	InitialBackoff Duration `json:"initialBackoff,omitempty" yaml:"initialBackoff,omitempty"`
	MaxBackoff     Duration `json:"maxBackoff,omitempty" yaml:"maxBackoff,omitempty"`
}

// RateLimitConfig caps the alerts sent per second (0: no limit); Burst
// alerts may go at once (default: one second's worth).
type RateLimitConfig struct {
	PerSecond float64 `json:"perSecond,omitempty" yaml:"perSecond,omitempty"`
	Burst     int     `json:"burst,omitempty" yaml:"burst,omitempty"`
}

// FileConfig is the file sink: one JSON alert per line, appended.
type FileConfig struct {
	Path string `json:"path" yaml:"path"`
}

// HTTPConfig is an HTTP endpoint with its credentials.
type HTTPConfig struct {
	URL string `json:"url" yaml:"url"`
	// Headers are added to every request. Their values are treated as
	// secrets (API keys often travel in headers): never logged.
	Headers map[string]Secret `json:"headers,omitempty" yaml:"headers,omitempty"`
	// BearerToken (or the file holding it) is sent as
	// "Authorization: Bearer <token>".
	BearerToken     Secret     `json:"bearerToken,omitempty" yaml:"bearerToken,omitempty"`
	BearerTokenFile string     `json:"bearerTokenFile,omitempty" yaml:"bearerTokenFile,omitempty"`
	BasicAuth       *BasicAuth `json:"basicAuth,omitempty" yaml:"basicAuth,omitempty"`
	TLS             TLSConfig  `json:"tls,omitzero" yaml:"tls,omitempty"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	Username     string `json:"username" yaml:"username"`
	Password     Secret `json:"password,omitempty" yaml:"password,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty" yaml:"passwordFile,omitempty"`
}

// WebhookConfig is the generic webhook (and the OCSF sink's transport).
type WebhookConfig struct {
	HTTPConfig `json:",inline" yaml:",inline"`
	// Batch posts a JSON array of up to BatchSize alerts per request
	// instead of one JSON object per request.
	Batch bool `json:"batch,omitempty" yaml:"batch,omitempty"`
}

// TLSConfig is the client side of a TLS connection.
type TLSConfig struct {
	// CAFile holds the PEM CA certificates that verify the server
	// (default: the system pool).
	CAFile string `json:"caFile,omitempty" yaml:"caFile,omitempty"`
	// CertFile and KeyFile are a PEM client certificate and key (mutual
	// TLS).
	CertFile   string `json:"certFile,omitempty" yaml:"certFile,omitempty"`
	KeyFile    string `json:"keyFile,omitempty" yaml:"keyFile,omitempty"`
	ServerName string `json:"serverName,omitempty" yaml:"serverName,omitempty"`
	// InsecureSkipVerify turns certificate verification off.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty" yaml:"insecureSkipVerify,omitempty"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `json:"minVersion,omitempty" yaml:"minVersion,omitempty"`
}

// SyslogConfig is the syslog sink: RFC 5424 messages over UDP (RFC 5426),
// TCP with octet counting (RFC 6587) or TLS (RFC 5425).
type SyslogConfig struct {
	// Network is udp, tcp or tls.
	Network string `json:"network" yaml:"network"`
	// Address is host:port.
	Address string `json:"address" yaml:"address"`
	// Facility is a syslog facility name (default local0).
	Facility string `json:"facility,omitempty" yaml:"facility,omitempty"`
	// Format of the message body: cef (default) or json.
	Format string `json:"format,omitempty" yaml:"format,omitempty"`
	// Hostname in the header (default: this host's name).
	Hostname string `json:"hostname,omitempty" yaml:"hostname,omitempty"`
	// AppName in the header (default bulwark).
	AppName string `json:"appName,omitempty" yaml:"appName,omitempty"`
	// StructuredDataID is the SD-ID of the alert's structured data
	// (default bulwark@32473; 32473 is the example enterprise number of
	// RFC 5612 — set your own).
	StructuredDataID string `json:"structuredDataID,omitempty" yaml:"structuredDataID,omitempty"`
	// MaxMessageBytes truncates longer messages (default 8192 over UDP,
	// 65536 over TCP and TLS).
	MaxMessageBytes int       `json:"maxMessageBytes,omitempty" yaml:"maxMessageBytes,omitempty"`
	TLS             TLSConfig `json:"tls,omitzero" yaml:"tls,omitempty"`
}

// SplunkConfig is the Splunk HTTP Event Collector sink.
type SplunkConfig struct {
	// URL is the HEC base URL (https://splunk:8088); the sink posts to
	// /services/collector/event under it.
	URL        string    `json:"url" yaml:"url"`
	Token      Secret    `json:"token,omitempty" yaml:"token,omitempty"`
	TokenFile  string    `json:"tokenFile,omitempty" yaml:"tokenFile,omitempty"`
	Index      string    `json:"index,omitempty" yaml:"index,omitempty"`
	Source     string    `json:"source,omitempty" yaml:"source,omitempty"`
	SourceType string    `json:"sourcetype,omitempty" yaml:"sourcetype,omitempty"`
	Host       string    `json:"host,omitempty" yaml:"host,omitempty"`
	TLS        TLSConfig `json:"tls,omitzero" yaml:"tls,omitempty"`
}

// AzureMonitorConfig is the Azure Monitor Logs Ingestion API sink.
type AzureMonitorConfig struct {
	// Endpoint is the data collection endpoint (or the DCR's own logs
	// ingestion endpoint), https://<dce>.<region>.ingest.monitor.azure.com.
	Endpoint string `json:"endpoint" yaml:"endpoint"`
	// DCRImmutableID is the data collection rule's immutableId (dcr-…).
	DCRImmutableID string `json:"dcrImmutableId" yaml:"dcrImmutableId"`
	// Stream is the DCR's input stream (Custom-BulwarkAlerts).
	Stream string `json:"stream" yaml:"stream"`
	// TenantID, ClientID and ClientSecret are the Entra ID application
	// that holds "Monitoring Metrics Publisher" on the DCR.
	TenantID         string `json:"tenantId" yaml:"tenantId"`
	ClientID         string `json:"clientId" yaml:"clientId"`
	ClientSecret     Secret `json:"clientSecret,omitempty" yaml:"clientSecret,omitempty"`
	ClientSecretFile string `json:"clientSecretFile,omitempty" yaml:"clientSecretFile,omitempty"`
	// Authority is the Entra ID host (default
	// https://login.microsoftonline.com; sovereign clouds differ).
	Authority string `json:"authority,omitempty" yaml:"authority,omitempty"`
	// Scope of the token (default https://monitor.azure.com//.default).
	Scope string    `json:"scope,omitempty" yaml:"scope,omitempty"`
	TLS   TLSConfig `json:"tls,omitzero" yaml:"tls,omitempty"`
}

// ElasticsearchConfig is the Elasticsearch _bulk sink.
type ElasticsearchConfig struct {
	// URL is the cluster's base URL; the sink posts to /_bulk under it.
	URL string `json:"url" yaml:"url"`
	// Index (or data stream) the alerts are created in (default
	// bulwark-alerts).
	Index string `json:"index,omitempty" yaml:"index,omitempty"`
	// Pipeline is an optional ingest pipeline.
	Pipeline     string `json:"pipeline,omitempty" yaml:"pipeline,omitempty"`
	Username     string `json:"username,omitempty" yaml:"username,omitempty"`
	Password     Secret `json:"password,omitempty" yaml:"password,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty" yaml:"passwordFile,omitempty"`
	// APIKey is the base64 "id:api_key" sent as "Authorization: ApiKey".
	APIKey     Secret    `json:"apiKey,omitempty" yaml:"apiKey,omitempty"`
	APIKeyFile string    `json:"apiKeyFile,omitempty" yaml:"apiKeyFile,omitempty"`
	TLS        TLSConfig `json:"tls,omitzero" yaml:"tls,omitempty"`
}

// Secret is a credential. It prints, logs and marshals as "<redacted>".
type Secret string

const redacted = "<redacted>"

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

// resolveSecret returns the inline secret or the trimmed content of its
// file.
func resolveSecret(inline Secret, file, what string) (string, error) {
	if file == "" {
		return string(inline), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: read %s: %w", what, file, unwrapPath(err))
	}
	return strings.TrimSpace(string(b)), nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Duration is a time.Duration written as "30s", "5m", "72h".
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want a number and a unit: 500ms, 30s, 5m, 72h)", b)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: negative", b)
	}
	*d = Duration(v)
	return nil
}

// Size is a byte count written as a number or with a suffix: Ki, Mi, Gi
// (powers of 1024) or K, M, G (powers of 1000).
type Size int64

// UnmarshalJSON accepts a number or a string.
func (s *Size) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] != '"' {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("invalid size %s", b)
		}
		if n < 0 {
			return fmt.Errorf("invalid size %d: negative", n)
		}
		*s = Size(n)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return err
	}
	return s.UnmarshalText([]byte(str))
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	str := strings.TrimSpace(string(b))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}} {
		if strings.HasSuffix(str, u.suffix) {
			str, mult = strings.TrimSuffix(str, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid size %q (want bytes, or a number with Ki, Mi, Gi, K, M or G)", b)
	}
	*s = Size(n * mult)
	return nil
}

// Defaults.
const (
	defaultMaxBytes     = 256 << 20
	defaultMaxAge       = 72 * time.Hour
	defaultSegmentBytes = 8 << 20
	defaultDedupWindow  = time.Minute
	defaultDedupEntries = 100000
	defaultTimeout      = 10 * time.Second
	defaultInitial      = time.Second
	defaultMaxBackoff   = time.Minute
)

// defaultBatch is each sink type's batch size when none is configured.
var defaultBatch = map[string]int{
	"stdout": 100, "file": 100, "webhook": 1, "ocsf": 1, "syslog": 100,
	"splunk": 100, "azuremonitor": 200, "elasticsearch": 200,
}

var sinkName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// validate reports every problem in c, each naming its field.
func (c *Config) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !c.Spool.Memory && c.Spool.Dir == "" && len(c.Sinks) > 0 {
		add("spool.dir: required (alerts are spooled to disk before delivery; set spool.memory: true to keep them in memory, losing undelivered alerts on exit)")
	}
	if c.Spool.Memory && c.Spool.Dir != "" {
		add("spool: dir and memory are exclusive")
	}
	if c.Spool.SegmentBytes != 0 && c.Spool.SegmentBytes < 4096 {
		add("spool.segmentBytes: %d is below 4096", c.Spool.SegmentBytes)
	}
	if c.Dedup.MaxEntries < 0 {
		add("dedup.maxEntries: negative")
	}
	names := map[string]bool{}
	for i, s := range c.Sinks {
		where := fmt.Sprintf("sinks[%d]", i)
		if s.Name != "" {
			where += " (" + s.Name + ")"
		}
		switch {
		case s.Name == "":
			add("%s.name: required", where)
		case !sinkName.MatchString(s.Name):
			add("%s.name: %q must be lower-case letters, digits, '-' and '_' (it names the spool directory)", where, s.Name)
		case names[s.Name]:
			add("%s.name: %q is used by another sink", where, s.Name)
		}
		names[s.Name] = true
		for _, err := range s.validate() {
			add("%s: %w", where, err)
		}
	}
	routed := map[string]bool{}
	for i, r := range c.Routes {
		where := fmt.Sprintf("routes[%d]", i)
		for _, n := range r.Sinks {
			routed[n] = true
		}
		if r.MinPriority != "" {
			if _, err := detect.ParsePriority(r.MinPriority); err != nil {
				add("%s.minPriority: %w", where, err)
			}
		}
		if len(r.Sinks) == 0 {
			add("%s.sinks: required", where)
		}
		for _, n := range r.Sinks {
			if !names[n] {
				add("%s.sinks: no sink named %q", where, n)
			}
		}
	}
	if len(c.Routes) > 0 {
		for i, s := range c.Sinks {
			if s.Name != "" && !routed[s.Name] {
				add("sinks[%d] (%s): in no route, so it would receive nothing (add it to a route, or remove the routes to send every alert to every sink)", i, s.Name)
			}
		}
	}
	return errors.Join(errs...)
}

func (s *SinkConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	blocks := []struct {
		typ, field string
		set        bool
	}{
		{"file", "file", s.File != nil}, {"webhook", "webhook", s.Webhook != nil}, {"ocsf", "ocsf", s.OCSF != nil},
		{"syslog", "syslog", s.Syslog != nil}, {"splunk", "splunk", s.Splunk != nil},
		{"azuremonitor", "azureMonitor", s.AzureMonitor != nil}, {"elasticsearch", "elasticsearch", s.Elasticsearch != nil},
	}
	if _, ok := defaultBatch[s.Type]; !ok {
		if s.Type == "" {
			add("type: required (one of stdout, file, webhook, ocsf, syslog, splunk, azuremonitor, elasticsearch)")
		} else {
			add("type: %q is not one of stdout, file, webhook, ocsf, syslog, splunk, azuremonitor, elasticsearch", s.Type)
		}
		return errs
	}
	for _, b := range blocks {
		if b.set && b.typ != s.Type {
			add("%s: set, but the type is %s", b.field, s.Type)
		}
		if !b.set && b.typ == s.Type {
			add("%s: required for type %s", b.field, s.Type)
		}
	}
	if s.BatchSize < 0 {
		add("batchSize: negative")
	}
	if s.RateLimit.PerSecond < 0 || s.RateLimit.Burst < 0 {
		add("rateLimit: negative")
	}
	if s.Retry.MaxBackoff != 0 && s.Retry.MaxBackoff < s.Retry.InitialBackoff {
		add("retry.maxBackoff: below initialBackoff")
	}
	switch s.Type {
	case "file":
		if s.File != nil && s.File.Path == "" {
			add("file.path: required")
		}
	case "webhook":
		if s.Webhook != nil {
			errs = append(errs, s.Webhook.HTTPConfig.validate("webhook")...)
		}
	case "ocsf":
		if s.OCSF != nil {
			errs = append(errs, s.OCSF.HTTPConfig.validate("ocsf")...)
		}
	case "syslog":
		if c := s.Syslog; c != nil {
			switch c.Network {
			case "udp", "tcp", "tls":
			default:
				add("syslog.network: %q is not one of udp, tcp, tls", c.Network)
			}
			if _, _, err := net.SplitHostPort(c.Address); err != nil {
				add("syslog.address: %q is not host:port", c.Address)
			}
			if _, ok := facilities[strings.ToLower(c.Facility)]; c.Facility != "" && !ok {
				add("syslog.facility: %q is not a syslog facility (kern, user, ..., local0..local7)", c.Facility)
			}
			switch c.Format {
			case "", "cef", "json":
			default:
				add("syslog.format: %q is not one of cef, json", c.Format)
			}
			if c.StructuredDataID != "" && !sdIDPattern.MatchString(c.StructuredDataID) {
				add("syslog.structuredDataID: %q is not name@enterprise-number", c.StructuredDataID)
			}
			if c.MaxMessageBytes < 0 || (c.MaxMessageBytes > 0 && c.MaxMessageBytes < 480) {
				add("syslog.maxMessageBytes: %d is below 480", c.MaxMessageBytes)
			}
			errs = append(errs, c.TLS.validate("syslog.tls")...)
		}
	case "splunk":
		if c := s.Splunk; c != nil {
			errs = append(errs, validateURL("splunk.url", c.URL)...)
			if c.Token == "" && c.TokenFile == "" {
				add("splunk: token or tokenFile required")
			}
			errs = append(errs, c.TLS.validate("splunk.tls")...)
		}
	case "azuremonitor":
		if c := s.AzureMonitor; c != nil {
			errs = append(errs, validateURL("azureMonitor.endpoint", c.Endpoint)...)
			for _, f := range [][2]string{{"dcrImmutableId", c.DCRImmutableID}, {"stream", c.Stream}, {"tenantId", c.TenantID}, {"clientId", c.ClientID}} {
				if f[1] == "" {
					add("azureMonitor.%s: required", f[0])
				}
			}
			if c.ClientSecret == "" && c.ClientSecretFile == "" {
				add("azureMonitor: clientSecret or clientSecretFile required")
			}
			if c.Authority != "" {
				errs = append(errs, validateURL("azureMonitor.authority", c.Authority)...)
			}
			errs = append(errs, c.TLS.validate("azureMonitor.tls")...)
		}
	case "elasticsearch":
		if c := s.Elasticsearch; c != nil {
			errs = append(errs, validateURL("elasticsearch.url", c.URL)...)
			if (c.APIKey != "" || c.APIKeyFile != "") && c.Username != "" {
				add("elasticsearch: apiKey and username are exclusive")
			}
			errs = append(errs, c.TLS.validate("elasticsearch.tls")...)
		}
	}
	return errs
}

func (h *HTTPConfig) validate(prefix string) []error {
	errs := validateURL(prefix+".url", h.URL)
	if (h.BearerToken != "" || h.BearerTokenFile != "") && h.BasicAuth != nil {
		errs = append(errs, fmt.Errorf("%s: bearerToken and basicAuth are exclusive", prefix))
	}
	if h.BasicAuth != nil && h.BasicAuth.Username == "" {
		errs = append(errs, fmt.Errorf("%s.basicAuth.username: required", prefix))
	}
	return append(errs, h.TLS.validate(prefix+".tls")...)
}

func (t *TLSConfig) validate(prefix string) []error {
	var errs []error
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, fmt.Errorf("%s: certFile and keyFile go together", prefix))
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	default:
		errs = append(errs, fmt.Errorf("%s.minVersion: %q is not 1.2 or 1.3", prefix, t.MinVersion))
	}
	return errs
}

func validateURL(field, raw string) []error {
	if raw == "" {
		return []error{fmt.Errorf("%s: required", field)}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may carry credentials: name the field, not the value.
		return []error{fmt.Errorf("%s: not an http(s) URL with a host", field)}
	}
	return nil
}
