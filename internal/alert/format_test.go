package alert

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/detect"
)

var testTime = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)

// execAlert is a typical detection: an exec into a pod.
func execAlert() Alert {
	a := New(detect.Alert{
		Rule:     "Exec into pod",
		Priority: detect.PriorityWarning,
		Time:     testTime,
		Output:   "exec into pod (user=alice pod=web-1 ns=shop command=sh)",
		Fields: map[string]string{
			"ka.user.name":          "alice",
			"ka.sourceips":          "(10.1.2.3,10.9.9.9)",
			"ka.verb":               "create",
			"ka.target.resource":    "pods",
			"ka.target.subresource": "exec",
			"ka.target.namespace":   "shop",
			"ka.target.name":        "web-1",
			"ka.uri.param[command]": "sh",
			"ka.useragent":          "<NA>",
		},
		AuditID:      "5e0c9b2a-1111-2222-3333-444455556666",
		Tags:         []string{"BW-DET-001", "REQ-05a", "k8s"},
		Source:       "k8s_audit",
		Check:        "BW-DET-001",
		Requirements: []string{"REQ-05a"},
	}, "prod-1")
	return a
}

func TestStableID(t *testing.T) {
	a, b := execAlert(), execAlert()
	if a.ID == "" || a.ID != b.ID {
		t.Fatalf("IDs %q and %q of the same detection differ", a.ID, b.ID)
	}
	for name, mutate := range map[string]func(*Alert){
		"cluster": func(x *Alert) { x.Cluster = "other" },
		"rule":    func(x *Alert) { x.Rule = "other" },
		"auditID": func(x *Alert) { x.AuditID = "other" },
	} {
		c := execAlert()
		mutate(&c)
		if c.StableID() == a.ID {
			t.Errorf("changing %s keeps the ID", name)
		}
	}
	// Without an audit ID, time and output identify the alert.
	c := execAlert()
	c.AuditID = ""
	d := c
	d.Time = d.Time.Add(time.Second)
	if c.StableID() == d.StableID() {
		t.Error("alerts without audit ID at different times share an ID")
	}
}

func TestCEF(t *testing.T) {
	tests := []struct {
		name  string
		alert func() Alert
		want  string
	}{
		{
			name:  "exec alert",
			alert: execAlert,
			want: `CEF:0|Bulwark|bulwark|1.2.3|BW-DET-001|Exec into pod|5|rt=1741064767123 externalId=` + execAlert().ID +
				` cat=k8s_audit msg=exec into pod (user\=alice pod\=web-1 ns\=shop command\=sh) suser=alice src=10.1.2.3 act=create` +
				` cs1Label=auditID cs1=5e0c9b2a-1111-2222-3333-444455556666 cs2Label=requirements cs2=REQ-05a cs3Label=cluster cs3=prod-1` +
				` cs4Label=tags cs4=BW-DET-001,REQ-05a,k8s cs5Label=resource cs5=shop/pods/web-1/exec deviceSeverity=Warning`,
		},
		{
			name: "header escaping",
			alert: func() Alert {
				return Alert{ID: "x", Rule: `a|b\c` + "\nd", Priority: detect.PriorityCritical, Check: `C|1`}
			},
			want: `CEF:0|Bulwark|bulwark|1.2.3|C\|1|a\|b\\c d|9|externalId=x deviceSeverity=Critical`,
		},
		{
			name: "extension escaping",
			alert: func() Alert {
				return Alert{ID: "x", Rule: "r", Priority: detect.PriorityEmergency, Output: "a=b\\c|d\r\ne"}
			},
			want: `CEF:0|Bulwark|bulwark|1.2.3|r|r|10|externalId=x msg=a\=b\\c|d\r\ne deviceSeverity=Emergency`,
		},
		{
			name: "ipv6 source",
			alert: func() Alert {
				return Alert{ID: "x", Rule: "r", Priority: detect.PriorityDebug, Fields: map[string]string{"ka.sourceips": "(fd00::1)"}}
			},
			want: `CEF:0|Bulwark|bulwark|1.2.3|r|r|0|externalId=x cs6Label=sourceAddress cs6=fd00::1 deviceSeverity=Debug`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.alert()
			if got := string(appendCEF(nil, &a, "1.2.3")); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestSeverityScales(t *testing.T) {
	want := map[detect.Priority][3]int{ // CEF, syslog, OCSF
		detect.PriorityEmergency:     {10, 0, 6},
		detect.PriorityAlert:         {10, 1, 5},
		detect.PriorityCritical:      {9, 2, 5},
		detect.PriorityError:         {7, 3, 4},
		detect.PriorityWarning:       {5, 4, 3},
		detect.PriorityNotice:        {3, 5, 2},
		detect.PriorityInformational: {1, 6, 1},
		detect.PriorityDebug:         {0, 7, 1},
	}
	for p, w := range want {
		o, _ := ocsfSeverity(p)
		if got := [3]int{severity10(p), syslogSeverity(p), o}; got != w {
			t.Errorf("%v: got %v, want %v", p, got, w)
		}
	}
}

func TestRFC5424(t *testing.T) {
	h := rfc5424{facility: 16, hostname: "node-1", appName: "bulwark", procID: "42", sdID: "bulwark@32473", format: "cef", version: "1.2.3", maxBytes: 65536}
	tests := []struct {
		name  string
		hdr   func(rfc5424) rfc5424
		alert func() Alert
		want  string
	}{
		{
			name:  "exec alert",
			alert: execAlert,
			want: `<132>1 2025-03-04T05:06:07.123456Z node-1 bulwark 42 BW-DET-001 [bulwark@32473 id="` + execAlert().ID +
				`" rule="Exec into pod" priority="Warning" check="BW-DET-001" auditID="5e0c9b2a-1111-2222-3333-444455556666"` +
				` cluster="prod-1" requirements="REQ-05a" source="k8s_audit"] CEF:0|Bulwark|bulwark|1.2.3|BW-DET-001|Exec into pod|5|`,
		},
		{
			name: "structured data escaping and nil values",
			hdr:  func(h rfc5424) rfc5424 { h.hostname, h.facility = "", 4; return h },
			alert: func() Alert {
				return Alert{ID: "x", Rule: `say "hi"] \o/`, Priority: detect.PriorityEmergency}
			},
			want: `<32>1 - - bulwark 42 - [bulwark@32473 id="x" rule="say \"hi\"\] \\o/" priority="Emergency"] CEF:0|Bulwark|bulwark|1.2.3|say "hi"] \\o/|say "hi"] \\o/|10|externalId=x deviceSeverity=Emergency`,
		},
		{
			name: "header fields printable ASCII only",
			hdr:  func(h rfc5424) rfc5424 { h.hostname = "nöde 1"; return h },
			alert: func() Alert {
				return Alert{ID: "x", Rule: "r", Priority: detect.PriorityDebug, Check: "BW DET"}
			},
			want: `<135>1 - nde1 bulwark 42 BWDET [bulwark@32473 id="x" rule="r" priority="Debug" check="BW DET"] CEF:0|Bulwark|bulwark|1.2.3|BW DET|r|0|externalId=x deviceSeverity=Debug`,
		},
		{
			name: "json body",
			hdr:  func(h rfc5424) rfc5424 { h.format = "json"; return h },
			alert: func() Alert {
				return Alert{ID: "x", Rule: "r", Priority: detect.PriorityNotice, Output: "o"}
			},
			want: `<133>1 - node-1 bulwark 42 - [bulwark@32473 id="x" rule="r" priority="Notice"] {"id":"x","rule":"r","priority":"Notice","time":"0001-01-01T00:00:00Z","output":"o"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hh := h
			if tt.hdr != nil {
				hh = tt.hdr(h)
			}
			a := tt.alert()
			got := string(hh.appendMessage(nil, &a))
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("got\n%s\nwant prefix\n%s", got, tt.want)
			}
		})
	}

	t.Run("truncation keeps the header and UTF-8", func(t *testing.T) {
		hh := h
		hh.maxBytes = 480
		a := Alert{ID: "x", Rule: "r", Output: strings.Repeat("é", 400)}
		got := hh.appendMessage(nil, &a)
		if len(got) > 480 || len(got) < 470 {
			t.Errorf("length %d, want just under 480", len(got))
		}
		if !strings.Contains(string(got), `[bulwark@32473 id="x"`) || !strings.HasSuffix(strings.TrimRight(string(got), "é"), "msg=") {
			t.Errorf("truncated message lost its header or cut a rune: %q", got)
		}
		if !json.Valid([]byte(`"` + string(got[len(got)-4:]) + `"`)) {
			t.Errorf("invalid UTF-8 at the end: %q", got[len(got)-4:])
		}
	})
}

func TestOctetCounting(t *testing.T) {
	for _, tt := range []struct{ msg, want string }{
		{"<13>1 - - - - - - hi", "20 <13>1 - - - - - - hi"},
		{"", "0 "},
		{"é\n", "3 é\n"},
	} {
		if got := string(appendOctetCounted(nil, []byte(tt.msg))); got != tt.want {
			t.Errorf("frame(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

func TestSDIDPattern(t *testing.T) {
	for id, ok := range map[string]bool{
		"bulwark@32473": true, "x@1.2.3": true, "a=b@1": false, "bulwark": false, "b ulwark@1": false,
		"a]b@1": false, `a"b@1`: false, "this-name-is-far-too-long-for-an-sdid@1": false,
	} {
		if sdIDPattern.MatchString(id) != ok {
			t.Errorf("%q: match = %v, want %v", id, !ok, ok)
		}
	}
}

// get walks a decoded JSON document along a dotted path.
func get(doc any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[k]
	}
	return doc
}

func roundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestECS(t *testing.T) {
	a := execAlert()
	tests := []struct {
		name  string
		alert Alert
		want  map[string]any // dotted path → value; nil value: absent
	}{
		{"exec alert", a, map[string]any{
			"@timestamp":                             "2025-03-04T05:06:07.123456789Z",
			"message":                                a.Output,
			"event.kind":                             "alert",
			"event.severity":                         5.0,
			"event.id":                               a.ID,
			"rule.name":                              "Exec into pod",
			"rule.id":                                "BW-DET-001",
			"user.name":                              "alice",
			"source.ip":                              "10.1.2.3",
			"orchestrator.type":                      "kubernetes",
			"orchestrator.cluster.name":              "prod-1",
			"orchestrator.namespace":                 "shop",
			"orchestrator.resource.type":             "pods",
			"orchestrator.resource.name":             "web-1",
			"kubernetes.audit.auditID":               a.AuditID,
			"kubernetes.audit.verb":                  "create",
			"kubernetes.audit.objectRef.subresource": "exec",
			"kubernetes.namespace":                   "shop",
			"kubernetes.pod.name":                    "web-1",
			"log.level":                              "warning",
			"observer.version":                       "1.2.3",
			"bulwark.fields.ka_uri_param_command":    "sh",
			"user_agent":                             nil, // <NA>
		}},
		{"no source ip when not an address", Alert{ID: "x", Rule: "r", Priority: detect.PriorityCritical,
			Fields: map[string]string{"ka.sourceips": "(not-an-ip)"}}, map[string]any{
			"source":         nil,
			"rule.id":        nil,
			"event.severity": 9.0,
			"kubernetes":     nil,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := roundTrip(t, ecsFor(&tt.alert, "1.2.3"))
			for path, want := range tt.want {
				if got := get(doc, path); !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
		})
	}
}

func TestOCSF(t *testing.T) {
	a := execAlert()
	tests := []struct {
		name  string
		alert Alert
		want  map[string]any
	}{
		{"exec alert", a, map[string]any{
			"class_uid":                     2004.0,
			"category_uid":                  2.0,
			"activity_id":                   1.0,
			"type_uid":                      200401.0,
			"time":                          float64(testTime.UnixMilli()),
			"severity_id":                   3.0,
			"severity":                      "Medium",
			"status_id":                     1.0,
			"is_alert":                      true,
			"message":                       a.Output,
			"metadata.version":              "1.3.0",
			"metadata.product.name":         "Bulwark",
			"metadata.product.version":      "1.2.3",
			"finding_info.uid":              a.ID,
			"finding_info.title":            "Exec into pod",
			"finding_info.analytic.uid":     "BW-DET-001",
			"finding_info.analytic.type_id": 1.0,
			"unmapped.cluster":              "prod-1",
		}},
		{"emergency is fatal", Alert{ID: "x", Rule: "r", Priority: detect.PriorityEmergency}, map[string]any{
			"severity_id": 6.0, "severity": "Fatal", "resources": nil, "evidences": nil,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := OCSFEncoder("1.2.3")(&tt.alert)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			for path, want := range tt.want {
				if got := get(doc, path); !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
		})
	}
	t.Run("resources and evidences", func(t *testing.T) {
		doc := roundTrip(t, ocsfFor(&a, "1"))
		res := doc["resources"].([]any)[0].(map[string]any)
		if res["name"] != "web-1" || res["type"] != "pods/exec" || res["namespace"] != "shop" {
			t.Errorf("resources[0] = %v", res)
		}
		ev := doc["evidences"].([]any)[0]
		if get(ev, "actor.user.name") != "alice" || get(ev, "src_endpoint.ip") != "10.1.2.3" ||
			get(ev, "api.operation") != "create" || get(ev, "api.request.uid") != a.AuditID {
			t.Errorf("evidences[0] = %v", ev)
		}
	})
}
