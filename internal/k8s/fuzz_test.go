package k8s

import "testing"

// FuzzDecode feeds arbitrary bytes to the manifest decoder: it must return
// objects or an error, never panic, and every object must have a kind.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n",
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n",
		`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod"}]}`,
		"[{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}]",
		"---\n---\n...\n",
		"a: &x [*x]\n",
		"{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Decode("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.Kind() == "" || o.APIVersion() == "" {
				t.Fatalf("object without kind/apiVersion accepted: %v", o.Content)
			}
			_ = o.String()
			_, _ = PodTemplateOf(o)
		}
	})
}
