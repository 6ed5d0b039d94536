package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unsafe"
)

// API version and kinds of Kubernetes audit events.
const (
	APIVersion    = "audit.k8s.io/v1"
	KindEvent     = "Event"
	KindEventList = "EventList"
)

// Event is one audit.k8s.io/v1 Event as the kube-apiserver emits it. The
// typed fields mirror the API type; RequestObject and ResponseObject stay
// raw, and the whole event is kept as it arrived so any part of it can be
// read with Pointer.
//
// An Event decoded by Decode is immutable: its slices and maps share one
// buffer and must not be modified. It is safe for concurrent readers.
type Event struct {
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	// Level is the audit level: None, Metadata, Request, RequestResponse.
	Level   string `json:"level"`
	AuditID string `json:"auditID"`
	// Stage is RequestReceived, ResponseStarted, ResponseComplete or Panic.
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`

	User             UserInfo  `json:"user"`
	ImpersonatedUser *UserInfo `json:"impersonatedUser,omitempty"`
	// SourceIPs lists the X-Forwarded-For addresses, then X-Real-Ip, then
	// the address of the connection that reached the API server.
	SourceIPs []string         `json:"sourceIPs,omitempty"`
	UserAgent string           `json:"userAgent,omitempty"`
	ObjectRef *ObjectReference `json:"objectRef,omitempty"`

	ResponseStatus *Status `json:"responseStatus,omitempty"`

	RequestObject  json.RawMessage `json:"requestObject,omitempty"`
	ResponseObject json.RawMessage `json:"responseObject,omitempty"`

	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time `json:"stageTimestamp"`

	Annotations map[string]string `json:"annotations,omitempty"`

	raw []byte
}

// UserInfo is the authenticated user of a request.
type UserInfo struct {
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// ObjectReference names the object a request is about.
type ObjectReference struct {
	Resource        string `json:"resource,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	APIGroup        string `json:"apiGroup,omitempty"`
	APIVersion      string `json:"apiVersion,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Subresource     string `json:"subresource,omitempty"`
}

// Status is the response status (a metav1.Status) of a request.
type Status struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int32  `json:"code,omitempty"`
	// Details is kept raw; it is rarely needed.
	Details json.RawMessage `json:"details,omitempty"`
}

// Raw returns the event exactly as it was decoded (without surrounding
// whitespace), or nil for an Event built in code.
func (e *Event) Raw() Value { return Value(e.raw) }

// Pointer resolves an RFC 6901 JSON pointer against the raw event, for
// example "/requestObject/spec/containers/0/image".
func (e *Event) Pointer(ptr string) (Value, bool) {
	if e.raw == nil {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, false
		}
		return Value(b).Pointer(ptr)
	}
	return Value(e.raw).Pointer(ptr)
}

// Time is when the event was produced: the stage timestamp, or the time
// the request was received when the stage timestamp is missing.
func (e *Event) Time() time.Time {
	if !e.StageTimestamp.IsZero() {
		return e.StageTimestamp
	}
	return e.RequestReceivedTimestamp
}

// MarshalJSON returns the raw event when there is one, so a decoded event
// round-trips byte for byte.
func (e *Event) MarshalJSON() ([]byte, error) {
	if e.raw != nil {
		return append([]byte(nil), e.raw...), nil
	}
	type plain Event
	return json.Marshal((*plain)(e))
}

// UnmarshalJSON decodes an event with Decode.
func (e *Event) UnmarshalJSON(data []byte) error {
	ev, err := Decode(data)
	if err != nil {
		return err
	}
	*e = *ev
	return nil
}

// FieldError is a member of the event with the wrong JSON type or value.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

func typeErr(field string, want Kind, got Value) error {
	return &FieldError{field, fmt.Errorf("want %s, got %s", want, got.Kind())}
}

// Decode decodes one audit event from JSON. The data is copied; the
// caller may reuse its buffer. A "kind" other than Event is an error.
func Decode(data []byte) (*Event, error) {
	start, end, err := validate(data)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, end-start)
	copy(raw, data[start:end])
	return decodeOwned(raw)
}

// decodeOwned decodes a validated event held in a buffer it may keep.
func decodeOwned(raw []byte) (*Event, error) {
	if Value(raw).Kind() != Object {
		return nil, errNotObject
	}
	// Strings without escapes are substrings of the event's own buffer,
	// which nothing writes once it is decoded (Raw's callers must not),
	// so decoding allocates no string per field and copies nothing.
	d := &decoder{b: raw, s: unsafe.String(unsafe.SliceData(raw), len(raw))}
	e := &Event{raw: raw}
	var err error
	objectMembers(raw, func(ks, ke, vs, ve int) bool {
		err = d.eventMember(e, d.s[ks+1:ke-1], vs, ve)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if e.Kind != "" && e.Kind != KindEvent {
		return nil, &FieldError{"kind", fmt.Errorf("%q is not %s", e.Kind, KindEvent)}
	}
	return e, nil
}

// decoder reads typed fields out of a validated event. b and s hold the
// same bytes; offsets index both.
type decoder struct {
	b []byte
	s string
}

func (d *decoder) val(vs, ve int) Value { return Value(d.b[vs:ve:ve]) }

func (d *decoder) isNull(vs, ve int) bool { return ve-vs == 4 && d.s[vs:ve] == "null" }

// members walks the object at [vs, ve) with absolute offsets.
func (d *decoder) members(vs, ve int, fn func(key string, vs, ve int) bool) {
	objectMembers(d.b[vs:ve], func(ks, ke, s, e int) bool {
		return fn(d.s[vs+ks+1:vs+ke-1], vs+s, vs+e)
	})
}

// str decodes the string at [vs, ve); field names it in errors (built
// only on error, from parent and key).
func (d *decoder) str(parent, key string, vs, ve int) (string, error) {
	if d.b[vs] != '"' {
		return "", typeErr(join(parent, key), String, d.val(vs, ve))
	}
	if isSimple(d.b[vs+1 : ve-1]) {
		return d.s[vs+1 : ve-1], nil
	}
	s, ok := unescape(d.b[vs+1 : ve-1])
	if !ok {
		return "", &FieldError{join(parent, key), errors.New("malformed string")}
	}
	return s, nil
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func (d *decoder) strs(parent, key string, vs, ve int) ([]string, error) {
	if d.b[vs] != '[' {
		return nil, typeErr(join(parent, key), Array, d.val(vs, ve))
	}
	out := make([]string, 0, 4)
	var err error
	arrayElements(d.b[vs:ve], func(s, e int) bool {
		s, e = vs+s, vs+e
		if d.isNull(s, e) {
			out = append(out, "")
			return true
		}
		var v string
		if v, err = d.str("", "", s, e); err != nil {
			err = typeErr(join(parent, key)+"["+strconv.Itoa(len(out))+"]", String, d.val(s, e))
			return false
		}
		out = append(out, v)
		return true
	})
	return out, err
}

func (d *decoder) strMap(parent, key string, vs, ve int) (map[string]string, error) {
	if d.b[vs] != '{' {
		return nil, typeErr(join(parent, key), Object, d.val(vs, ve))
	}
	out := make(map[string]string, 4)
	var err error
	d.members(vs, ve, func(k string, s, e int) bool {
		if d.isNull(s, e) {
			out[k] = ""
			return true
		}
		var v string
		if v, err = d.str(join(parent, key), k, s, e); err != nil {
			return false
		}
		out[k] = v
		return true
	})
	return out, err
}

func (d *decoder) timestamp(key string, vs, ve int) (time.Time, error) {
	s, err := d.str("", key, vs, ve)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, perr := time.Parse(time.RFC3339Nano, s)
	if perr != nil {
		return time.Time{}, &FieldError{key, fmt.Errorf("%q is not an RFC 3339 time", s)}
	}
	return t, nil
}

func (d *decoder) eventMember(e *Event, key string, vs, ve int) error {
	if d.isNull(vs, ve) {
		return nil
	}
	var err error
	switch key {
	case "kind":
		e.Kind, err = d.str("", key, vs, ve)
	case "apiVersion":
		e.APIVersion, err = d.str("", key, vs, ve)
	case "level":
		e.Level, err = d.str("", key, vs, ve)
	case "auditID":
		e.AuditID, err = d.str("", key, vs, ve)
	case "stage":
		e.Stage, err = d.str("", key, vs, ve)
	case "requestURI":
		e.RequestURI, err = d.str("", key, vs, ve)
	case "verb":
		e.Verb, err = d.str("", key, vs, ve)
	case "user":
		err = d.user(key, vs, ve, &e.User)
	case "impersonatedUser":
		e.ImpersonatedUser = new(UserInfo)
		err = d.user(key, vs, ve, e.ImpersonatedUser)
	case "sourceIPs":
		e.SourceIPs, err = d.strs("", key, vs, ve)
	case "userAgent":
		e.UserAgent, err = d.str("", key, vs, ve)
	case "objectRef":
		e.ObjectRef, err = d.objectRef(vs, ve)
	case "responseStatus":
		e.ResponseStatus, err = d.status(vs, ve)
	case "requestObject":
		e.RequestObject = json.RawMessage(d.val(vs, ve))
	case "responseObject":
		e.ResponseObject = json.RawMessage(d.val(vs, ve))
	case "requestReceivedTimestamp":
		e.RequestReceivedTimestamp, err = d.timestamp(key, vs, ve)
	case "stageTimestamp":
		e.StageTimestamp, err = d.timestamp(key, vs, ve)
	case "annotations":
		e.Annotations, err = d.strMap("", key, vs, ve)
	}
	return err
}

func (d *decoder) user(field string, vs, ve int, u *UserInfo) error {
	if d.b[vs] != '{' {
		return typeErr(field, Object, d.val(vs, ve))
	}
	var err error
	d.members(vs, ve, func(k string, s, e int) bool {
		if d.isNull(s, e) {
			return true
		}
		switch k {
		case "username":
			u.Username, err = d.str(field, k, s, e)
		case "uid":
			u.UID, err = d.str(field, k, s, e)
		case "groups":
			u.Groups, err = d.strs(field, k, s, e)
		case "extra":
			if d.b[s] != '{' {
				err = typeErr(join(field, k), Object, d.val(s, e))
				break
			}
			u.Extra = make(map[string][]string, 4)
			d.members(s, e, func(ek string, s2, e2 int) bool {
				var list []string
				if list, err = d.strs(field+".extra", ek, s2, e2); err != nil {
					return false
				}
				u.Extra[ek] = list
				return true
			})
		}
		return err == nil
	})
	return err
}

func (d *decoder) objectRef(vs, ve int) (*ObjectReference, error) {
	if d.b[vs] != '{' {
		return nil, typeErr("objectRef", Object, d.val(vs, ve))
	}
	o := &ObjectReference{}
	var err error
	d.members(vs, ve, func(k string, s, e int) bool {
		if d.isNull(s, e) {
			return true
		}
		var dst *string
		switch k {
		case "resource":
			dst = &o.Resource
		case "namespace":
			dst = &o.Namespace
		case "name":
			dst = &o.Name
		case "uid":
			dst = &o.UID
		case "apiGroup":
			dst = &o.APIGroup
		case "apiVersion":
			dst = &o.APIVersion
		case "resourceVersion":
			dst = &o.ResourceVersion
		case "subresource":
			dst = &o.Subresource
		default:
			return true
		}
		*dst, err = d.str("objectRef", k, s, e)
		return err == nil
	})
	return o, err
}

func (d *decoder) status(vs, ve int) (*Status, error) {
	if d.b[vs] != '{' {
		return nil, typeErr("responseStatus", Object, d.val(vs, ve))
	}
	st := &Status{}
	var err error
	d.members(vs, ve, func(k string, s, e int) bool {
		if d.isNull(s, e) {
			return true
		}
		switch k {
		case "status":
			st.Status, err = d.str("responseStatus", k, s, e)
		case "message":
			st.Message, err = d.str("responseStatus", k, s, e)
		case "reason":
			st.Reason, err = d.str("responseStatus", k, s, e)
		case "details":
			st.Details = json.RawMessage(d.val(s, e))
		case "code":
			v := d.val(s, e)
			if v.Kind() != Number {
				err = typeErr("responseStatus.code", Number, v)
				break
			}
			n, perr := strconv.ParseInt(d.s[s:e], 10, 32)
			if perr != nil {
				err = &FieldError{"responseStatus.code", fmt.Errorf("%s is not a 32-bit integer", v)}
				break
			}
			st.Code = int32(n)
		}
		return err == nil
	})
	return st, err
}
