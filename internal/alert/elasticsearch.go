package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Elasticsearch indexes alerts as Elastic Common Schema documents with
// the _bulk API: one NDJSON body per batch, each alert a "create" with
// the alert ID as document _id, so a retried batch cannot index an alert
// twice (Elasticsearch answers 409 for the copy, which counts as
// delivered). Each item's status is checked: 429 and 5xx items are
// retried, others (a mapping error) rejected.
type Elasticsearch struct {
	c       *httpClient
	url     string
	index   string
	version string
}

var (
	_ Sink   = (*Elasticsearch)(nil)
	_ Closer = (*Elasticsearch)(nil)
)

// NewElasticsearch returns an Elasticsearch sink.
func NewElasticsearch(cfg ElasticsearchConfig, timeout time.Duration, version string) (*Elasticsearch, error) {
	c, err := newHTTPClient(cfg.TLS, timeout)
	if err != nil {
		return nil, err
	}
	c.withURLSecrets(cfg.URL)
	key, err := resolveSecret(cfg.APIKey, cfg.APIKeyFile, "elasticsearch.apiKeyFile")
	if err != nil {
		return nil, err
	}
	switch {
	case key != "":
		c.setAuth("ApiKey", key)
	case cfg.Username != "":
		pw, err := resolveSecret(cfg.Password, cfg.PasswordFile, "elasticsearch.passwordFile")
		if err != nil {
			return nil, err
		}
		c.setBasic(cfg.Username, pw)
	}
	u := strings.TrimRight(cfg.URL, "/") + "/_bulk"
	if cfg.Pipeline != "" {
		u += "?pipeline=" + url.QueryEscape(cfg.Pipeline)
	}
	return &Elasticsearch{c: c, url: u, index: orDefault(cfg.Index, "bulwark-alerts"), version: version}, nil
}

type bulkAction struct {
	Create struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	} `json:"create"`
}

type bulkResponse struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		Status int `json:"status"`
		Error  *struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	} `json:"items"`
}

// Send implements Sink.
func (e *Elasticsearch) Send(ctx context.Context, alerts ...Alert) (bool, error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	var body []byte
	for i := range alerts {
		var act bulkAction
		act.Create.Index, act.Create.ID = e.index, alerts[i].ID
		line, err := json.Marshal(&act)
		if err != nil {
			return false, err
		}
		doc, err := json.Marshal(ecsFor(&alerts[i], e.version))
		if err != nil {
			return false, fmt.Errorf("encode alert %s: %w", alerts[i].ID, err)
		}
		body = append(append(append(append(body, line...), '\n'), doc...), '\n')
	}
	resp, retry, err := e.c.post(ctx, e.url, "application/x-ndjson", body, nil)
	if err != nil {
		return retry, err
	}
	var br bulkResponse
	if err := json.Unmarshal(resp, &br); err != nil {
		return true, fmt.Errorf("bulk response: %w", err)
	}
	if !br.Errors {
		return false, nil
	}
	if len(br.Items) != len(alerts) {
		return true, fmt.Errorf("bulk response has %d items for %d alerts", len(br.Items), len(alerts))
	}
	var pe PartialError
	var first error
	for i, item := range br.Items {
		for _, res := range item {
			if res.Status < 300 || res.Status == http.StatusConflict {
				continue // created, or already there from an earlier attempt
			}
			reason := ""
			if res.Error != nil {
				reason = res.Error.Type + ": " + res.Error.Reason
			}
			itemErr := fmt.Errorf("bulk item %s: status %d: %s", alerts[i].ID, res.Status, e.c.redact.text(truncate(reason, 300)))
			if first == nil {
				first = itemErr
			}
			if retryableStatus(res.Status) {
				pe.Retry = append(pe.Retry, alerts[i])
			} else {
				pe.Rejected = append(pe.Rejected, alerts[i])
			}
		}
	}
	if first == nil {
		return false, nil
	}
	pe.Err = first
	return len(pe.Retry) > 0, &pe
}

// Close releases idle connections.
func (e *Elasticsearch) Close() error {
	e.c.close()
	return nil
}

// ecsFor maps an alert onto Elastic Common Schema fields: the event
// (kind alert, severity 0-10, the alert ID), the rule, the message, the
// user and source address of the audited request, the orchestrator
// (Kubernetes: cluster, namespace, resource) and kubernetes.audit for
// the audit event itself. Bulwark's own fields go under "bulwark".
func ecsFor(a *Alert, version string) map[string]any {
	doc := map[string]any{
		"@timestamp": a.Time.UTC().Format(time.RFC3339Nano),
		"message":    a.Output,
		"ecs":        map[string]any{"version": "8.11.0"},
		"event": map[string]any{
			"kind":     "alert",
			"category": []string{"intrusion_detection"},
			"type":     []string{"info"},
			"severity": severity10(a.Priority),
			"id":       a.ID,
			"module":   "bulwark",
			"dataset":  "bulwark.alert",
			"provider": orDefault(a.Source, "k8s_audit"),
		},
		"rule":     map[string]any{"name": a.Rule, "id": a.Check, "ruleset": "bulwark"},
		"log":      map[string]any{"level": strings.ToLower(a.Priority.String())},
		"observer": map[string]any{"vendor": "Bulwark", "product": "bulwark", "version": version, "type": "detection"},
	}
	if a.Check == "" {
		delete(doc["rule"].(map[string]any), "id")
	}
	if len(a.Tags) > 0 {
		doc["tags"] = a.Tags
	}
	if u := a.field("ka.user.name"); u != "" {
		doc["user"] = map[string]any{"name": u}
	}
	if ip := a.sourceIP(); ip != "" {
		if _, err := netip.ParseAddr(ip); err == nil {
			doc["source"] = map[string]any{"ip": ip}
		}
	}
	if ua := a.field("ka.useragent"); ua != "" {
		doc["user_agent"] = map[string]any{"original": ua}
	}
	orch := map[string]any{"type": "kubernetes"}
	if a.Cluster != "" {
		orch["cluster"] = map[string]any{"name": a.Cluster}
	}
	ns := a.field("ka.target.namespace")
	if ns != "" {
		orch["namespace"] = ns
	}
	res := map[string]any{}
	if t := a.field("ka.target.resource"); t != "" {
		res["type"] = t
	}
	if n := a.field("ka.target.name"); n != "" {
		res["name"] = n
	}
	if len(res) > 0 {
		orch["resource"] = res
	}
	doc["orchestrator"] = orch

	audit := map[string]any{}
	if a.AuditID != "" {
		audit["auditID"] = a.AuditID
	}
	if v := a.field("ka.verb"); v != "" {
		audit["verb"] = v
	}
	if u := a.field("ka.uri"); u != "" {
		audit["requestURI"] = u
	}
	obj := map[string]any{}
	for key, field := range map[string]string{"resource": "ka.target.resource", "subresource": "ka.target.subresource", "namespace": "ka.target.namespace", "name": "ka.target.name"} {
		if v := a.field(field); v != "" {
			obj[key] = v
		}
	}
	if len(obj) > 0 {
		audit["objectRef"] = obj
	}
	k8s := map[string]any{}
	if len(audit) > 0 {
		k8s["audit"] = audit
	}
	if ns != "" {
		k8s["namespace"] = ns
	}
	if a.field("ka.target.resource") == "pods" {
		if n := a.field("ka.target.name"); n != "" {
			k8s["pod"] = map[string]any{"name": n}
		}
	}
	if len(k8s) > 0 {
		doc["kubernetes"] = k8s
	}

	bw := map[string]any{"priority": a.Priority.String()}
	if len(a.Requirements) > 0 {
		bw["requirements"] = a.Requirements
	}
	if len(a.Fields) > 0 {
		// Field names such as ka.req.pod.containers.image would expand
		// into conflicting objects; flatten them to keywords.
		fields := make(map[string]string, len(a.Fields))
		for k, v := range a.Fields {
			fields[ecsKey(k)] = v
		}
		bw["fields"] = fields
	}
	doc["bulwark"] = bw
	return doc
}

// ecsKey turns "ka.uri.param[command]" into "ka_uri_param_command".
func ecsKey(k string) string {
	k = strings.Map(func(r rune) rune {
		switch r {
		case '.', '[', ']', '/', ' ':
			return '_'
		}
		return r
	}, k)
	return strings.Trim(k, "_")
}
