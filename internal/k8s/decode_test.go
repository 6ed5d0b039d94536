package k8s

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // kind/namespace/name@line
	}{
		{
			name:  "single yaml",
			input: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: dev\n",
			want:  []string{"Pod/dev/a@1"},
		},
		{
			name:  "multi document with comments and empty docs",
			input: "# header\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n---\n---\n# only a comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: dev\n",
			want:  []string{"Namespace/dev@3", "Deployment/dev/web@11"},
		},
		{
			name:  "separator with trailing comment and document end marker",
			input: "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n--- # next\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n...\n",
			want:  []string{"Pod/a@1", "Pod/b@5"},
		},
		{
			name:  "yaml list kind",
			input: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n",
			want:  []string{"Pod/a@4", "Service/b@7"},
		},
		{
			name:  "json object",
			input: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}`,
			want:  []string{"Pod/a@1"},
		},
		{
			name:  "json list from kubectl get -o json",
			input: "{\n \"apiVersion\": \"v1\",\n \"kind\": \"List\",\n \"items\": [\n  {\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}},\n  {\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\"}}\n ]\n}\n",
			want:  []string{"Pod/a@5", "Pod/b@6"},
		},
		{
			name:  "json array and stream",
			input: "[{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}},\n {\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\"}}]\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"c\"}}\n",
			want:  []string{"Pod/a@1", "Pod/b@2", "Pod/c@3"},
		},
		{
			name:  "typed list kind",
			input: "apiVersion: v1\nkind: PodList\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n",
			want:  []string{"Pod/a@4"},
		},
		{
			name:  "utf-8 bom",
			input: "\xef\xbb\xbfapiVersion: v1\nkind: Pod\nmetadata: {name: a}\n",
			want:  []string{"Pod/a@1"},
		},
		{
			name:  "empty input",
			input: "",
			want:  nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Decode("in.yaml", []byte(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.String()+"@"+itoa(o.Line))
				if o.File != "in.yaml" {
					t.Errorf("file = %q", o.File)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"bad yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n", "in.yaml:"},
		{"bad yaml in second doc reports its line", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\n  bad: indent\n", "in.yaml:7"},
		{"no kind", "apiVersion: v1\nmetadata: {name: a}\n", "in.yaml:1: object has no kind"},
		{"no apiVersion", "kind: Pod\n", "object has no apiVersion"},
		{"scalar document", "just a string\n", "expected a Kubernetes object"},
		{"list document", "- a\n- b\n", "expected a Kubernetes object"},
		{"metadata not a map", "apiVersion: v1\nkind: Pod\nmetadata: x\n", "metadata must be a mapping"},
		{"bad json", "{\"apiVersion\": \"v1\",\n \"kind\": }", "in.yaml:2: invalid JSON"},
		{"truncated json", "{\"apiVersion\": \"v1\"", "unexpected end of input"},
		{"binary", "apiVersion: v1\x00\x01\x02", "binary data at byte 14"},
		{"invalid utf8", "apiVersion: \xff\xfe\n", "invalid UTF-8"},
		{"list item without kind", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  metadata: {name: a}\n", "in.yaml:4: object has no kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode("in.yaml", []byte(tc.input))
			if err == nil {
				t.Fatal("no error")
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestLoader(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n")
	write("sub/b.yml", "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\n")
	write("sub/deeper/c.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"c"}}`)
	write("README.md", "not a manifest")
	write(".git/config.yaml", "not: scanned")

	objs, err := Loader{}.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Name())
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("loaded %v, want a,b,c", names)
	}

	objs, err = Loader{Stdin: strings.NewReader("apiVersion: v1\nkind: Pod\nmetadata: {name: s}\n")}.Load("-")
	if err != nil || len(objs) != 1 || objs[0].File != "-" {
		t.Errorf("stdin: %v %v", objs, err)
	}

	_, err = Loader{}.Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file error %v", err)
	}

	write("big.yaml", strings.Repeat("# padding\n", 200))
	_, err = Loader{MaxFileSize: 100}.Load(filepath.Join(dir, "big.yaml"))
	if err == nil || !strings.Contains(err.Error(), "big.yaml") || !strings.Contains(err.Error(), "--max-file-size") {
		t.Errorf("large file error %v", err)
	}
	_, err = Loader{MaxFileSize: 100, Stdin: strings.NewReader(strings.Repeat("x", 200))}.Load("-")
	if err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("large stdin error %v", err)
	}

	// Errors from several files are all reported, with what could be read.
	write("bad/1.yaml", "kind: Pod\n")
	write("bad/2.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\n")
	write("bad/3.yaml", "{")
	objs, err = Loader{}.Load(filepath.Join(dir, "bad"))
	if err == nil || !strings.Contains(err.Error(), "1.yaml") || !strings.Contains(err.Error(), "3.yaml") {
		t.Errorf("joined errors %v", err)
	}
	if len(objs) != 1 {
		t.Errorf("got %d objects alongside errors, want 1", len(objs))
	}
}

func TestPodTemplateOf(t *testing.T) {
	tests := []struct {
		yaml, path string
		ok         bool
	}{
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x}]}\n", "", true},
		{"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {metadata: {labels: {app: a}}, spec: {containers: [{name: a, image: x}]}}}\n", "spec.template", true},
		{"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: x}]}}}}}\n", "spec.jobTemplate.spec.template", true},
		{"apiVersion: v1\nkind: PodTemplate\nmetadata: {name: t}\ntemplate: {spec: {containers: [{name: a, image: x}]}}\n", "template", true},
		{"apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec: {template: {spec: {containers: [{name: a, image: x}]}}}\n", "spec.template", true},
		{"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n", "", false},
	}
	for _, tc := range tests {
		objs, err := Decode("x.yaml", []byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		tpl, ok := PodTemplateOf(objs[0])
		if ok != tc.ok || tpl.Path != tc.path {
			t.Errorf("%s: got (%q, %v), want (%q, %v)", objs[0], tpl.Path, ok, tc.path, tc.ok)
		}
		pod, implied := ImpliedPod(objs[0])
		if implied != (tc.ok && tc.path != "") {
			t.Errorf("%s: implied = %v", objs[0], implied)
		}
		if implied {
			if pod.Kind() != "Pod" || pod.Name() != objs[0].Name() || len(Containers(mapOf(pod.Content["spec"]))) != 1 {
				t.Errorf("%s: implied pod %v", objs[0], pod.Content)
			}
		}
	}
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// TestDecodeLargeStreamKeepsOrderAndErrors checks the parallel path: order
// is kept and the first error in document order is reported.
func TestDecodeLargeStreamKeepsOrderAndErrors(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 500; i++ {
		b.WriteString("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-" + strconv.Itoa(i) + "\n")
	}
	objs, err := Decode("big.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 500 {
		t.Fatalf("%d objects", len(objs))
	}
	for i, o := range objs {
		if o.Name() != "cm-"+strconv.Itoa(i) || o.Line != 2+5*i {
			t.Fatalf("object %d is %s at line %d", i, o.Name(), o.Line)
		}
	}
	bad := b.String() + "---\napiVersion: v1\nkind: [\n" + b.String()
	_, err = Decode("big.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), "big.yaml:2503") {
		t.Errorf("error %v, want one at line 2503", err)
	}
}
