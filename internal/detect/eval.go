package detect

import (
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// evalCtx holds the state of evaluating the rules on one event: the event
// and the values of fields already extracted. Contexts are pooled by the
// engine, so extracting a field costs no allocation after warm-up.
type evalCtx struct {
	ev *audit.Event
	// gen identifies the event being evaluated; a slot holds a value for
	// this event only when its gen matches.
	gen   uint64
	slots []slot

	// Per-event memos of parts of the event several fields need.
	podSpecGen uint64
	podSpec    audit.Value
	podSpecOK  bool
	// now stands in for the time of an event that carries none, as Falco
	// stamps plugin events when it reads them.
	now time.Time
}

// slot caches one field (with its argument and transformers) for the
// current event.
type slot struct {
	gen  uint64
	ok   bool
	vals []string
}

func newEvalCtx(nslots int) *evalCtx {
	return &evalCtx{slots: make([]slot, nslots)}
}

// reset prepares the context for a new event.
func (c *evalCtx) reset(ev *audit.Event) {
	c.ev = ev
	c.gen++
	c.now = time.Time{}
}

// eventTime is the event's time, or the time it was evaluated when it
// has no timestamp.
func (c *evalCtx) eventTime() time.Time {
	if t := c.ev.Time(); !t.IsZero() {
		return t
	}
	if c.now.IsZero() {
		c.now = time.Now()
	}
	return c.now
}

// values returns the values of the field in slot i for the current event,
// extracting them on first use. ok is false when the field is missing
// (no value at all), in which case every comparison on it is false.
func (c *evalCtx) values(ref *fieldRef) ([]string, bool) {
	s := &c.slots[ref.slot]
	if s.gen == c.gen {
		return s.vals, s.ok
	}
	vals, ok := ref.def.extract(c, &ref.arg, s.vals[:0])
	if ok && len(ref.transformers) > 0 {
		vals = applyTransformers(ref, vals)
	}
	if len(vals) == 0 {
		ok = false
	}
	s.gen, s.ok, s.vals = c.gen, ok, vals
	return vals, ok
}

// requestObject returns the request object, if the event has one.
func (c *evalCtx) requestObject() (audit.Value, bool) {
	ro := audit.Value(c.ev.RequestObject)
	if len(ro) == 0 || ro.IsNull() {
		return nil, false
	}
	return ro, true
}

// pod returns the pod spec the request object carries: a Pod's spec, or
// the pod template of a workload (Deployment, ReplicaSet, StatefulSet,
// DaemonSet, Job, ReplicationController, CronJob, PodTemplate, or any kind
// with spec.template.spec).
func (c *evalCtx) pod() (audit.Value, bool) {
	if c.podSpecGen == c.gen {
		return c.podSpec, c.podSpecOK
	}
	c.podSpecGen = c.gen
	c.podSpec, c.podSpecOK = podSpecOf(c.ev)
	return c.podSpec, c.podSpecOK
}

func podSpecOf(ev *audit.Event) (audit.Value, bool) {
	ro := audit.Value(ev.RequestObject)
	if len(ro) == 0 || ro.Kind() != audit.Object {
		return nil, false
	}
	// One pass over the top level of the object.
	var kind string
	var spec, template audit.Value
	for k, v := range ro.Members() {
		switch k {
		case "kind":
			kind, _ = v.Str()
		case "spec":
			spec = v
		case "template":
			template = v
		}
	}
	if kind == "EphemeralContainers" {
		// The pods/ephemeralcontainers body of Kubernetes 1.16 to 1.21
		// lists the containers at its top level.
		return ro, true
	}
	isPod := kind == "Pod" || (kind == "" && ev.ObjectRef != nil && ev.ObjectRef.Resource == "pods")
	if spec != nil {
		// A Pod, or anything whose spec lists containers directly, as the
		// k8saudit plugin reads it.
		if isPod {
			return spec, true
		}
		if _, ok := spec.Get("containers"); ok {
			return spec, true
		}
		if ps, ok := spec.Path("template", "spec"); ok && ps.Kind() == audit.Object {
			return ps, true
		}
		if ps, ok := spec.Path("jobTemplate", "spec", "template", "spec"); ok && ps.Kind() == audit.Object {
			return ps, true
		}
	}
	if template != nil {
		if ps, ok := template.Get("spec"); ok && ps.Kind() == audit.Object {
			return ps, true
		}
	}
	return nil, false
}
