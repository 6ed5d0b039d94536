package detect

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// argKind says what argument a field takes, in brackets after its name.
type argKind int

const (
	argNone argKind = iota
	// argIndex is an optional numeric index selecting one element
	// (ka.req.pod.containers.image[0]).
	argIndex
	// argKey is a required key (ka.uri.param[command]).
	argKey
	// argPointer is a required RFC 6901 JSON pointer (jevt.value[/stage]).
	argPointer
)

// fieldArg is a parsed field argument.
type fieldArg struct {
	raw string
	// index is the element index for argIndex fields, -1 for all.
	index int
	// get is a fast accessor for JSON pointers naming a typed member of
	// the event (jevt.value[/verb]); nil otherwise.
	get func(*audit.Event) string
}

type extractFn func(c *evalCtx, a *fieldArg, dst []string) ([]string, bool)

// fieldDef is one field the condition language knows.
type fieldDef struct {
	name string
	desc string
	// list fields extract several values; only in, intersects and exists
	// apply to them in Falco (Bulwark adds the string operators, see
	// docs/detect.md).
	list bool
	// ip fields hold IP addresses; =, in and intersects match them against
	// addresses and CIDR ranges.
	ip  bool
	arg argKind
	// source is "k8saudit", "json", "evt" or "bulwark", for the docs.
	source  string
	extract extractFn
}

// fieldRef is a field as a condition or output uses it.
type fieldRef struct {
	def          *fieldDef
	arg          fieldArg
	transformers []string
	// slot indexes the engine-wide cache of extracted values.
	slot int
	// text is the field as written, without '%': the key of the alert's
	// field map.
	text string
}

// fieldTable is the registry of fields, built once and read-only after.
var fieldTable = sync.OnceValue(buildFields)

// lookupField resolves a field name and argument.
func lookupField(f fieldExpr) (*fieldDef, fieldArg, error) {
	def, ok := fieldTable()[f.name]
	if !ok {
		return nil, fieldArg{}, fmt.Errorf("unknown field %q", f.name)
	}
	a := fieldArg{raw: f.arg, index: -1}
	switch def.arg {
	case argNone:
		if f.hasArg {
			return nil, a, fmt.Errorf("field %s does not take an argument", f.name)
		}
	case argIndex:
		if f.hasArg {
			n, err := strconv.Atoi(f.arg)
			if err != nil || n < 0 {
				return nil, a, fmt.Errorf("field %s: argument %q is not an index (want a number such as [0])", f.name, f.arg)
			}
			a.index = n
		}
	case argKey:
		if !f.hasArg || f.arg == "" {
			return nil, a, fmt.Errorf("field %s requires an argument, such as %s[name]", f.name, f.name)
		}
	case argPointer:
		if !f.hasArg {
			return nil, a, fmt.Errorf("field %s requires a JSON pointer argument, such as %s[/verb]", f.name, f.name)
		}
		if f.arg != "" && f.arg[0] != '/' {
			return nil, a, fmt.Errorf("field %s: %q is not a JSON pointer (it must start with '/')", f.name, f.arg)
		}
		a.get = typedPointers[f.arg]
	}
	return def, a, nil
}

// typedPointers read members the decoder already holds, sparing a walk
// of the raw event for the pointers rules use most.
var typedPointers = map[string]func(*audit.Event) string{
	"/stage":      func(e *audit.Event) string { return e.Stage },
	"/verb":       func(e *audit.Event) string { return e.Verb },
	"/auditID":    func(e *audit.Event) string { return e.AuditID },
	"/level":      func(e *audit.Event) string { return e.Level },
	"/requestURI": func(e *audit.Event) string { return e.RequestURI },
	"/userAgent":  func(e *audit.Event) string { return e.UserAgent },
	"/user/username": func(e *audit.Event) string {
		return e.User.Username
	},
}

// Field describes a field for documentation and listing.
type Field struct {
	Name        string
	Description string
	List        bool
	Arg         string
	Source      string
}

// Fields returns every field the condition language knows, sorted.
func Fields() []Field {
	var out []Field
	for _, d := range fieldTable() {
		arg := map[argKind]string{argNone: "", argIndex: "index (optional)", argKey: "key (required)", argPointer: "JSON pointer (required)"}[d.arg]
		out = append(out, Field{Name: d.name, Description: d.desc, List: d.list, Arg: arg, Source: d.source})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// text renders a JSON value as a field value, without allocating for
// the common literals.
func text(v audit.Value) string {
	switch string(v) {
	case "true":
		return "true"
	case "false":
		return "false"
	case "null":
		return "null"
	case "0":
		return "0"
	}
	return v.Text()
}

func one(dst []string, s string) ([]string, bool) {
	if s == "" {
		return dst, false
	}
	return append(dst, s), true
}

func strField(get func(*audit.Event) string) extractFn {
	return func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		return one(dst, get(c.ev))
	}
}

func objRef(get func(*audit.ObjectReference) string) extractFn {
	return func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		if c.ev.ObjectRef == nil {
			return dst, false
		}
		return one(dst, get(c.ev.ObjectRef))
	}
}

func annotation(key string) extractFn {
	return func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		v, ok := c.ev.Annotations[key]
		if !ok {
			return dst, false
		}
		return append(dst, v), true
	}
}

// reqPath reads one value at a path of the request object.
func reqPath(keys ...string) extractFn {
	return func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		ro, ok := c.requestObject()
		if !ok {
			return dst, false
		}
		v, ok := ro.Path(keys...)
		if !ok {
			return dst, false
		}
		return append(dst, text(v)), true
	}
}

// podPath reads one value at a path of the pod spec.
func podPath(keys ...string) extractFn {
	return func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		pod, ok := c.pod()
		if !ok {
			return dst, false
		}
		v, ok := pod.Path(keys...)
		if !ok {
			return dst, false
		}
		return append(dst, text(v)), true
	}
}

// elementsAt reads each element of the array at path (of root), as text.
func elementsAt(root audit.Value, index int, dst []string, keys ...string) []string {
	arr, ok := root.Path(keys...)
	if !ok {
		return dst
	}
	i := 0
	for el := range arr.Elements() {
		if index < 0 || index == i {
			dst = append(dst, text(el))
		}
		i++
	}
	return dst
}

// containerFn computes the values of one container.
type containerFn func(ctr, pod audit.Value, dst []string) []string

// containers applies fn to each container of the given kind
// (containers, initContainers, ephemeralContainers) of the pod spec.
func containers(kind string, fn containerFn) extractFn {
	return func(c *evalCtx, a *fieldArg, dst []string) ([]string, bool) {
		pod, ok := c.pod()
		if !ok {
			return dst, false
		}
		arr, ok := pod.Get(kind)
		if !ok {
			return dst, false
		}
		i := 0
		for ctr := range arr.Elements() {
			if a.index < 0 || a.index == i {
				dst = fn(ctr, pod, dst)
			}
			i++
		}
		return dst, len(dst) > 0
	}
}

func ctrPath(keys ...string) containerFn {
	return func(ctr, _ audit.Value, dst []string) []string {
		if v, ok := ctr.Path(keys...); ok {
			dst = append(dst, text(v))
		}
		return dst
	}
}

// ctrEffective is the container's security context setting, else the
// pod's, else "0" (root), per container.
func ctrEffective(key string) containerFn {
	return func(ctr, pod audit.Value, dst []string) []string {
		if v, ok := ctr.Path("securityContext", key); ok && !v.IsNull() {
			return append(dst, text(v))
		}
		if v, ok := pod.Path("securityContext", key); ok && !v.IsNull() {
			return append(dst, text(v))
		}
		return append(dst, "0")
	}
}

// ctrJoined is a string array of the container (command, args) joined
// with spaces.
func ctrJoined(key string) containerFn {
	return func(ctr, _ audit.Value, dst []string) []string {
		arr, ok := ctr.Get(key)
		if !ok || arr.Kind() != audit.Array {
			return dst
		}
		var parts []string
		for el := range arr.Elements() {
			parts = append(parts, el.Text())
		}
		return append(dst, strings.Join(parts, " "))
	}
}

func ctrHostPorts(ctr, _ audit.Value, dst []string) []string {
	ports, ok := ctr.Get("ports")
	if !ok {
		return dst
	}
	for p := range ports.Elements() {
		// As the k8saudit plugin: the hostPort, else the containerPort
		// (which is the host port when hostNetwork is true).
		if hp, ok := p.Get("hostPort"); ok {
			dst = append(dst, text(hp))
		} else if cp, ok := p.Get("containerPort"); ok {
			dst = append(dst, text(cp))
		}
	}
	return dst
}

func ctrAddCaps(ctr, _ audit.Value, dst []string) []string {
	add, ok := ctr.Path("securityContext", "capabilities", "add")
	if !ok {
		return dst
	}
	for c := range add.Elements() {
		dst = append(dst, c.Text())
	}
	return dst
}

func ctrImage(ctr, _ audit.Value, dst []string) []string {
	if v, ok := ctr.Get("image"); ok {
		dst = append(dst, v.Text())
	}
	return dst
}

func ctrRepository(ctr, _ audit.Value, dst []string) []string {
	if v, ok := ctr.Get("image"); ok {
		dst = append(dst, imageRepository(v.Text()))
	}
	return dst
}

// imageRepository strips the tag and digest from an image reference,
// keeping a registry port ("reg:5000/app:1" is "reg:5000/app").
func imageRepository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i >= 0 && !strings.Contains(image[i:], "/") {
		image = image[:i]
	}
	return image
}

// volumes applies fn to each volume of the pod spec.
func volumes(fn func(vol audit.Value, dst []string) []string) extractFn {
	return func(c *evalCtx, a *fieldArg, dst []string) ([]string, bool) {
		pod, ok := c.pod()
		if !ok {
			return dst, false
		}
		arr, ok := pod.Get("volumes")
		if !ok {
			return dst, false
		}
		i := 0
		for vol := range arr.Elements() {
			if a.index < 0 || a.index == i {
				dst = fn(vol, dst)
			}
			i++
		}
		return dst, len(dst) > 0
	}
}

// uriParam returns the first value of a query parameter of the request
// URI, and all of them when all is set.
func uriParam(uri, key string, all bool, dst []string) []string {
	q := uri
	if i := strings.IndexByte(q, '?'); i >= 0 {
		q = q[i+1:]
	} else {
		return dst
	}
	if i := strings.IndexByte(q, '#'); i >= 0 {
		q = q[:i]
	}
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != key {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			uk, err := url.QueryUnescape(k)
			if err != nil || uk != key {
				continue
			}
		}
		if strings.ContainsAny(v, "%+") {
			uv, err := url.QueryUnescape(v)
			if err != nil {
				continue
			}
			v = uv
		}
		dst = append(dst, v)
		if !all {
			return dst
		}
	}
	return dst
}

// subjectNames lists binding subjects of a kind; withNS prefixes service
// accounts with their namespace ("ns:name").
func subjectNames(kind string, withNS bool) extractFn {
	return func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		ro, ok := c.requestObject()
		if !ok {
			return dst, false
		}
		subs, ok := ro.Get("subjects")
		if !ok {
			return dst, false
		}
		for s := range subs.Elements() {
			k, _ := s.Get("kind")
			if k.Text() != kind {
				continue
			}
			n, _ := s.Get("name")
			if withNS {
				ns, _ := s.Get("namespace")
				dst = append(dst, ns.Text()+":"+n.Text())
			} else {
				dst = append(dst, n.Text())
			}
		}
		return dst, len(dst) > 0
	}
}

// rulesField flattens one list member of the rules of a Role/ClusterRole.
func rulesField(key string) extractFn {
	return func(c *evalCtx, a *fieldArg, dst []string) ([]string, bool) {
		ro, ok := c.requestObject()
		if !ok {
			return dst, false
		}
		rules, ok := ro.Get("rules")
		if !ok {
			return dst, false
		}
		i := 0
		for r := range rules.Elements() {
			if a.index < 0 || a.index == i {
				if vals, ok := r.Get(key); ok {
					for v := range vals.Elements() {
						dst = append(dst, v.Text())
					}
				}
			}
			i++
		}
		return dst, true
	}
}

func timeField(format func(time.Time) string) extractFn {
	return func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		return append(dst, format(c.eventTime())), true
	}
}

func rawTime(t time.Time) string   { return strconv.FormatInt(t.UnixNano(), 10) }
func timeOfDay(t time.Time) string { return t.UTC().Format("15:04:05.000000000") }
func iso8601(t time.Time) string   { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }
func dateTime(t time.Time) string  { return t.UTC().Format("2006-01-02 15:04:05.000000000") }

func jsonValue(c *evalCtx, a *fieldArg, dst []string) ([]string, bool) {
	if a.get != nil {
		return one(dst, a.get(c.ev))
	}
	v, ok := c.ev.Pointer(a.raw)
	if !ok {
		return dst, false
	}
	return append(dst, text(v)), true
}

func jsonObj(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
	raw := c.ev.Raw()
	if len(raw) == 0 {
		b, err := c.ev.MarshalJSON()
		if err != nil {
			return dst, false
		}
		raw = audit.Value(b)
	}
	return append(dst, raw.Text()), true
}

// buildFields builds the field registry.
func buildFields() map[string]*fieldDef {
	m := map[string]*fieldDef{}
	add := func(src, name string, list bool, arg argKind, desc string, fn extractFn) *fieldDef {
		d := &fieldDef{name: name, desc: desc, list: list, arg: arg, source: src, extract: fn}
		m[name] = d
		return d
	}
	ka := func(name string, list bool, arg argKind, desc string, fn extractFn) *fieldDef {
		return add("k8saudit", name, list, arg, desc, fn)
	}

	ka("ka.auditid", false, argNone, "The unique id of the audit event", strField(func(e *audit.Event) string { return e.AuditID }))
	ka("ka.stage", false, argNone, "Stage of the request (RequestReceived, ResponseStarted, ResponseComplete, Panic)", strField(func(e *audit.Event) string { return e.Stage }))
	ka("ka.auth.decision", false, argNone, "The authorization decision (annotation authorization.k8s.io/decision)", annotation("authorization.k8s.io/decision"))
	ka("ka.auth.reason", false, argNone, "The authorization reason (annotation authorization.k8s.io/reason)", annotation("authorization.k8s.io/reason"))
	ka("ka.auth.openshift.decision", false, argNone, "The OpenShift authentication decision (annotation authentication.openshift.io/decision)", annotation("authentication.openshift.io/decision"))
	ka("ka.auth.openshift.username", false, argNone, "The OpenShift authenticated user name (annotation authentication.openshift.io/username)", annotation("authentication.openshift.io/username"))
	ka("ka.validations.admission.policy.failure", false, argNone, "The ValidatingAdmissionPolicy failure (annotation validation.policy.admission.k8s.io/validation_failure)", annotation("validation.policy.admission.k8s.io/validation_failure"))
	ka("ka.security.pod.violations", false, argNone, "The Pod Security violations (annotation pod-security.kubernetes.io/audit-violations)", annotation("pod-security.kubernetes.io/audit-violations"))
	ka("ka.user.name", false, argNone, "The user name performing the request", strField(func(e *audit.Event) string { return e.User.Username }))
	ka("ka.user.groups", true, argNone, "The groups to which the user belongs", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		return append(dst, c.ev.User.Groups...), true
	})
	ka("ka.impuser.name", false, argNone, "The impersonated user name", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		if c.ev.ImpersonatedUser == nil {
			return dst, false
		}
		return one(dst, c.ev.ImpersonatedUser.Username)
	})
	ka("ka.verb", false, argNone, "The action being performed", strField(func(e *audit.Event) string { return e.Verb }))
	ka("ka.uri", false, argNone, "The request URI as sent from client to server", strField(func(e *audit.Event) string { return e.RequestURI }))
	ka("ka.uri.param", false, argKey, "The first value of a query parameter of the URI (uri=/foo?key=val gives ka.uri.param[key] = val)", func(c *evalCtx, a *fieldArg, dst []string) ([]string, bool) {
		dst = uriParam(c.ev.RequestURI, a.raw, false, dst)
		return dst, len(dst) > 0
	})
	ka("ka.target.name", false, argNone, "The target object name", objRef(func(o *audit.ObjectReference) string { return o.Name }))
	ka("ka.target.namespace", false, argNone, "The target object namespace", objRef(func(o *audit.ObjectReference) string { return o.Namespace }))
	ka("ka.target.resource", false, argNone, "The target object resource", objRef(func(o *audit.ObjectReference) string { return o.Resource }))
	ka("ka.target.subresource", false, argNone, "The target object subresource", objRef(func(o *audit.ObjectReference) string { return o.Subresource }))
	ka("ka.target.pod.name", false, argNone, "The target pod name, when the target is a pod or one of its subresources", objRef(func(o *audit.ObjectReference) string {
		if o.Resource != "pods" {
			return ""
		}
		return o.Name
	}))
	ka("ka.cluster.name", false, argNone, "The cluster name, from a top-level cluster_name member added by the receiver", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		v, ok := c.ev.Raw().Get("cluster_name")
		if !ok {
			return dst, false
		}
		return one(dst, v.Text())
	})

	ka("ka.req.binding.subjects", true, argNone, "The subjects of a (cluster) role binding, each as JSON", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		ro, ok := c.requestObject()
		if !ok {
			return dst, false
		}
		dst = elementsAt(ro, -1, dst, "subjects")
		return dst, true
	})
	ka("ka.req.binding.subjects.user_names", true, argNone, "The User subjects of a binding", subjectNames("User", false))
	ka("ka.req.binding.subjects.serviceaccount_names", true, argNone, "The ServiceAccount subjects of a binding", subjectNames("ServiceAccount", false))
	ka("ka.req.binding.subjects.serviceaccount_ns_names", true, argNone, "The ServiceAccount subjects of a binding, as namespace:name", subjectNames("ServiceAccount", true))
	ka("ka.req.binding.subjects.group_names", true, argNone, "The Group subjects of a binding", subjectNames("Group", false))
	ka("ka.req.binding.role", false, argNone, "The role a binding refers to (roleRef.name)", reqPath("roleRef", "name"))
	ka("ka.req.binding.subject.has_name", false, argKey, "Deprecated; always \"true\", as the k8saudit plugin", func(_ *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		return append(dst, "true"), true
	})
	ka("ka.req.configmap.name", false, argNone, "The configmap name (the target object name)", objRef(func(o *audit.ObjectReference) string { return o.Name }))
	ka("ka.req.configmap.obj", false, argNone, "The data of a configmap in the request, as JSON", reqPath("data"))

	// Pod fields read the pod spec of a Pod or of a workload's template.
	for _, kind := range []string{"containers", "initContainers", "ephemeralContainers"} {
		p := "ka.req.pod." + kind + "."
		what := map[string]string{"containers": "containers", "initContainers": "init containers", "ephemeralContainers": "ephemeral containers"}[kind]
		ka(p+"name", true, argIndex, "The names of the "+what, containers(kind, ctrPath("name")))
		ka(p+"image", true, argIndex, "The images of the "+what, containers(kind, ctrImage))
		ka(p+"image.repository", true, argIndex, "The images of the "+what+" without tag or digest", containers(kind, ctrRepository))
		ka(p+"command", true, argIndex, "The command of each of the "+what+", joined with spaces", containers(kind, ctrJoined("command")))
		ka(p+"args", true, argIndex, "The args of each of the "+what+", joined with spaces", containers(kind, ctrJoined("args")))
		ka(p+"privileged", true, argIndex, "The privileged flags of the "+what, containers(kind, ctrPath("securityContext", "privileged")))
		ka(p+"allow_privilege_escalation", true, argIndex, "The allowPrivilegeEscalation flags of the "+what, containers(kind, ctrPath("securityContext", "allowPrivilegeEscalation")))
		ka(p+"read_only_fs", true, argIndex, "The readOnlyRootFilesystem flags of the "+what, containers(kind, ctrPath("securityContext", "readOnlyRootFilesystem")))
		ka(p+"run_as_user", true, argIndex, "The runAsUser of the "+what, containers(kind, ctrPath("securityContext", "runAsUser")))
		ka(p+"eff_run_as_user", true, argIndex, "The effective uid of each of the "+what+": its runAsUser, else the pod's, else 0", containers(kind, ctrEffective("runAsUser")))
		ka(p+"run_as_group", true, argIndex, "The runAsGroup of the "+what, containers(kind, ctrPath("securityContext", "runAsGroup")))
		ka(p+"eff_run_as_group", true, argIndex, "The effective gid of each of the "+what+": its runAsGroup, else the pod's, else 0", containers(kind, ctrEffective("runAsGroup")))
		ka(p+"proc_mount", true, argIndex, "The procMount types of the "+what, containers(kind, ctrPath("securityContext", "procMount")))
		ka(p+"add_capabilities", true, argIndex, "The capabilities added by the "+what, containers(kind, ctrAddCaps))
		ka(p+"host_port", true, argIndex, "The hostPort (else containerPort) of every port of the "+what, containers(kind, ctrHostPorts))
	}
	ka("ka.req.container.image", false, argNone, "Deprecated: the image of the first container", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		return firstOf(containers("containers", ctrImage), c, dst)
	})
	ka("ka.req.container.image.repository", false, argNone, "Deprecated: the repository of the first container's image", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		return firstOf(containers("containers", ctrRepository), c, dst)
	})
	ka("ka.req.container.privileged", false, argNone, "Deprecated: \"true\" if any container is privileged, else \"false\"", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		pod, ok := c.pod()
		if !ok {
			return dst, false
		}
		arr, ok := pod.Get("containers")
		if !ok {
			return dst, false
		}
		for ctr := range arr.Elements() {
			if v, ok := ctr.Path("securityContext", "privileged"); ok && text(v) == "true" {
				return append(dst, "true"), true
			}
		}
		return append(dst, "false"), true
	})
	ka("ka.req.pod.host_ipc", false, argNone, "The hostIPC flag of the pod", podPath("hostIPC"))
	ka("ka.req.pod.host_network", false, argNone, "The hostNetwork flag of the pod", podPath("hostNetwork"))
	ka("ka.req.container.host_network", false, argNone, "Deprecated alias for ka.req.pod.host_network", podPath("hostNetwork"))
	ka("ka.req.pod.host_pid", false, argNone, "The hostPID flag of the pod", podPath("hostPID"))
	ka("ka.req.pod.run_as_user", false, argNone, "The pod-level runAsUser", podPath("securityContext", "runAsUser"))
	ka("ka.req.pod.run_as_group", false, argNone, "The pod-level runAsGroup", podPath("securityContext", "runAsGroup"))
	ka("ka.req.pod.fs_group", false, argNone, "The pod-level fsGroup", podPath("securityContext", "fsGroup"))
	ka("ka.req.pod.supplemental_groups", true, argNone, "The pod-level supplementalGroups", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		pod, ok := c.pod()
		if !ok {
			return dst, false
		}
		return elementsAt(pod, -1, dst, "securityContext", "supplementalGroups"), true
	})
	ka("ka.req.pod.volumes.hostpath", true, argIndex, "The hostPath paths of the pod's volumes", volumes(func(v audit.Value, dst []string) []string {
		if p, ok := v.Path("hostPath", "path"); ok {
			dst = append(dst, p.Text())
		}
		return dst
	}))
	ka("ka.req.pod.volumes.flexvolume_driver", true, argIndex, "The flexVolume drivers of the pod's volumes", volumes(func(v audit.Value, dst []string) []string {
		if p, ok := v.Path("flexVolume", "driver"); ok {
			dst = append(dst, p.Text())
		}
		return dst
	}))
	ka("ka.req.pod.volumes.volume_type", true, argIndex, "The types of the pod's volumes (hostPath, emptyDir, secret, ...)", volumes(func(v audit.Value, dst []string) []string {
		for k := range v.Members() {
			if k != "name" {
				dst = append(dst, k)
			}
		}
		return dst
	}))
	ka("ka.req.volume.hostpath", false, argKey, "Deprecated: \"true\" if a hostPath volume uses the path (a trailing * matches a prefix)", func(c *evalCtx, a *fieldArg, dst []string) ([]string, bool) {
		paths, ok := m["ka.req.pod.volumes.hostpath"].extract(c, &fieldArg{index: -1}, nil)
		if !ok {
			pod, podOK := c.pod()
			if !podOK {
				return dst, false
			}
			if _, has := pod.Get("volumes"); !has {
				return dst, false
			}
		}
		prefix, isPrefix := strings.CutSuffix(a.raw, "*")
		for _, p := range paths {
			if p == a.raw || (isPrefix && strings.HasPrefix(p, prefix)) {
				return append(dst, "true"), true
			}
		}
		return append(dst, "false"), true
	})
	ka("ka.req.role.rules", true, argNone, "The rules of a Role/ClusterRole, each as JSON", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		ro, ok := c.requestObject()
		if !ok {
			return dst, false
		}
		return elementsAt(ro, -1, dst, "rules"), true
	})
	ka("ka.req.role.rules.apiGroups", true, argIndex, "The apiGroups of the role's rules", rulesField("apiGroups"))
	ka("ka.req.role.rules.nonResourceURLs", true, argIndex, "The nonResourceURLs of the role's rules", rulesField("nonResourceURLs"))
	ka("ka.req.role.rules.verbs", true, argIndex, "The verbs of the role's rules", rulesField("verbs"))
	ka("ka.req.role.rules.resources", true, argIndex, "The resources of the role's rules", rulesField("resources"))
	ka("ka.req.service.type", false, argNone, "The type of a Service in the request", reqPath("spec", "type"))
	ka("ka.req.service.ports", true, argIndex, "The ports of a Service in the request, each as JSON", func(c *evalCtx, a *fieldArg, dst []string) ([]string, bool) {
		ro, ok := c.requestObject()
		if !ok {
			return dst, false
		}
		return elementsAt(ro, a.index, dst, "spec", "ports"), true
	})
	ka("ka.resp.name", false, argNone, "The name of the response object", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		v, ok := audit.Value(c.ev.ResponseObject).Path("metadata", "name")
		if !ok {
			return dst, false
		}
		return one(dst, v.Text())
	})
	ka("ka.response.code", false, argNone, "The response code", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		rs := c.ev.ResponseStatus
		if rs == nil || rs.Code == 0 {
			return dst, false
		}
		return append(dst, statusCode(rs.Code)), true
	})
	ka("ka.response.reason", false, argNone, "The response reason (usually only on failures)", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		if c.ev.ResponseStatus == nil {
			return dst, false
		}
		return one(dst, c.ev.ResponseStatus.Reason)
	})
	ka("ka.useragent", false, argNone, "The user agent of the client", strField(func(e *audit.Event) string { return e.UserAgent }))
	ka("ka.sourceips", true, argIndex, "The source IP addresses of the request", func(c *evalCtx, a *fieldArg, dst []string) ([]string, bool) {
		for i, ip := range c.ev.SourceIPs {
			if a.index < 0 || a.index == i {
				dst = append(dst, ip)
			}
		}
		return dst, true
	})

	for _, prefix := range []string{"json", "jevt"} {
		add("json", prefix+".value", false, argPointer, "The value at a JSON pointer of the event, as text (JSON for objects and arrays)", jsonValue)
		add("json", prefix+".obj", false, argNone, "The whole event as JSON", jsonObj)
		add("json", prefix+".rawtime", false, argNone, "The event time in nanoseconds since the epoch", timeField(rawTime))
	}
	add("json", "jevt.time", false, argNone, "The event time of day, with nanoseconds (UTC)", timeField(timeOfDay))
	add("json", "jevt.time.iso8601", false, argNone, "The event time in ISO 8601 (UTC)", timeField(iso8601))
	add("evt", "evt.time", false, argNone, "The event time of day, with nanoseconds (UTC)", timeField(timeOfDay))
	add("evt", "evt.time.iso8601", false, argNone, "The event time in ISO 8601 (UTC)", timeField(iso8601))
	add("evt", "evt.datetime", false, argNone, "The event date and time (UTC)", timeField(dateTime))
	add("evt", "evt.rawtime", false, argNone, "The event time in nanoseconds since the epoch", timeField(rawTime))
	add("evt", "evt.source", false, argNone, "The event source, k8s_audit", func(_ *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		return append(dst, SourceK8sAudit), true
	})

	bw := func(name string, list bool, arg argKind, desc string, fn extractFn) *fieldDef {
		return add("bulwark", name, list, arg, desc, fn)
	}
	bw("bw.sourceips", true, argIndex, "The source IP addresses as IP values: in/intersects match addresses and CIDR ranges", func(c *evalCtx, a *fieldArg, dst []string) ([]string, bool) {
		for i, ip := range c.ev.SourceIPs {
			if a.index < 0 || a.index == i {
				dst = append(dst, ip)
			}
		}
		return dst, true
	}).ip = true
	bw("bw.sourceip", false, argNone, "The address of the connection that reached the API server (the last source IP), as an IP value", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		if n := len(c.ev.SourceIPs); n > 0 {
			return one(dst, c.ev.SourceIPs[n-1])
		}
		return dst, false
	}).ip = true
	bw("bw.exec.command", false, argNone, "Every command parameter of an exec request, joined with spaces (the full argv)", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		n := len(dst)
		dst = uriParam(c.ev.RequestURI, "command", true, dst)
		if len(dst) == n {
			return dst, false
		}
		joined := strings.Join(dst[n:], " ")
		return append(dst[:n], joined), true
	})
	bw("bw.user.name", false, argNone, "The effective user: the impersonated user when there is one, else the user", func(c *evalCtx, _ *fieldArg, dst []string) ([]string, bool) {
		if iu := c.ev.ImpersonatedUser; iu != nil && iu.Username != "" {
			return append(dst, iu.Username), true
		}
		return one(dst, c.ev.User.Username)
	})
	return m
}

// firstOf returns the first value an extractor finds.
func firstOf(fn extractFn, c *evalCtx, dst []string) ([]string, bool) {
	vals, ok := fn(c, &fieldArg{index: 0}, dst)
	if !ok || len(vals) == 0 {
		return dst, false
	}
	return vals[:len(dst)+1], true
}

var commonCodes = map[int32]string{200: "200", 201: "201", 101: "101", 204: "204", 401: "401", 403: "403", 404: "404", 409: "409", 422: "422", 500: "500"}

func statusCode(code int32) string {
	if s, ok := commonCodes[code]; ok {
		return s
	}
	return strconv.Itoa(int(code))
}
