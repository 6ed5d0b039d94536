package alert

import (
	"encoding/json"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/detect"
)

// OCSF Detection Finding (class 2004, category 2 Findings), schema 1.3.0.
const (
	ocsfVersion         = "1.3.0"
	ocsfClassUID        = 2004
	ocsfCategoryUID     = 2
	ocsfActivityCreate  = 1
	ocsfStatusNew       = 1
	ocsfAnalyticRule    = 1
	ocsfTypeUID         = ocsfClassUID*100 + ocsfActivityCreate
	ocsfSeverityUnknown = 0
)

type ocsfFinding struct {
	ActivityID   int              `json:"activity_id"`
	ActivityName string           `json:"activity_name"`
	CategoryUID  int              `json:"category_uid"`
	CategoryName string           `json:"category_name"`
	ClassUID     int              `json:"class_uid"`
	ClassName    string           `json:"class_name"`
	TypeUID      int              `json:"type_uid"`
	TypeName     string           `json:"type_name"`
	Time         int64            `json:"time"`
	SeverityID   int              `json:"severity_id"`
	Severity     string           `json:"severity"`
	StatusID     int              `json:"status_id"`
	Status       string           `json:"status"`
	IsAlert      bool             `json:"is_alert"`
	Message      string           `json:"message"`
	Metadata     ocsfMetadata     `json:"metadata"`
	FindingInfo  ocsfFindingInfo  `json:"finding_info"`
	Resources    []ocsfResource   `json:"resources,omitempty"`
	Evidences    []ocsfEvidence   `json:"evidences,omitempty"`
	Unmapped     map[string]any   `json:"unmapped,omitempty"`
	Observables  []ocsfObservable `json:"observables,omitempty"`
}

type ocsfMetadata struct {
	Version string      `json:"version"`
	UID     string      `json:"uid"`
	Product ocsfProduct `json:"product"`
	Labels  []string    `json:"labels,omitempty"`
	LogName string      `json:"log_name,omitempty"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

type ocsfFindingInfo struct {
	UID         string       `json:"uid"`
	Title       string       `json:"title"`
	Desc        string       `json:"desc,omitempty"`
	CreatedTime int64        `json:"created_time"`
	Types       []string     `json:"types,omitempty"`
	DataSources []string     `json:"data_sources,omitempty"`
	Analytic    ocsfAnalytic `json:"analytic"`
}

type ocsfAnalytic struct {
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

type ocsfResource struct {
	UID       string `json:"uid,omitempty"`
	Name      string `json:"name,omitempty"`
	Type      string `json:"type,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Group     *struct {
		Name string `json:"name"`
	} `json:"group,omitempty"`
}

type ocsfEvidence struct {
	Actor       *ocsfActor    `json:"actor,omitempty"`
	SrcEndpoint *ocsfEndpoint `json:"src_endpoint,omitempty"`
	API         *ocsfAPI      `json:"api,omitempty"`
}

type ocsfActor struct {
	User struct {
		Name string `json:"name"`
	} `json:"user"`
}

type ocsfEndpoint struct {
	IP string `json:"ip"`
}

type ocsfAPI struct {
	Operation string `json:"operation,omitempty"`
	Request   *struct {
		UID string `json:"uid"`
	} `json:"request,omitempty"`
}

type ocsfObservable struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	TypeID int    `json:"type_id"`
	Value  string `json:"value"`
}

// ocsfSeverity maps a priority onto OCSF's severity_id and caption:
// Emergency is Fatal (6); Alert and Critical are Critical (5); Error is
// High (4); Warning Medium (3); Notice Low (2); Informational and Debug
// Informational (1).
func ocsfSeverity(p detect.Priority) (int, string) {
	switch p {
	case detect.PriorityEmergency:
		return 6, "Fatal"
	case detect.PriorityAlert, detect.PriorityCritical:
		return 5, "Critical"
	case detect.PriorityError:
		return 4, "High"
	case detect.PriorityWarning:
		return 3, "Medium"
	case detect.PriorityNotice:
		return 2, "Low"
	case detect.PriorityInformational, detect.PriorityDebug:
		return 1, "Informational"
	}
	return ocsfSeverityUnknown, "Unknown"
}

// OCSFEncoder returns the encoder of OCSF Detection Findings (class_uid
// 2004) for the given Bulwark version.
func OCSFEncoder(version string) Encoder {
	return func(a *Alert) ([]byte, error) { return json.Marshal(ocsfFor(a, version)) }
}

func ocsfFor(a *Alert, version string) ocsfFinding {
	sevID, sev := ocsfSeverity(a.Priority)
	ms := a.Time.UnixMilli()
	f := ocsfFinding{
		ActivityID: ocsfActivityCreate, ActivityName: "Create",
		CategoryUID: ocsfCategoryUID, CategoryName: "Findings",
		ClassUID: ocsfClassUID, ClassName: "Detection Finding",
		TypeUID: ocsfTypeUID, TypeName: "Detection Finding: Create",
		Time:       ms,
		SeverityID: sevID, Severity: sev,
		StatusID: ocsfStatusNew, Status: "New",
		IsAlert: true,
		Message: a.Output,
		Metadata: ocsfMetadata{
			Version: ocsfVersion,
			UID:     a.ID,
			Product: ocsfProduct{Name: "Bulwark", VendorName: "Bulwark", Version: version},
			Labels:  a.Requirements,
			LogName: a.Source,
		},
		FindingInfo: ocsfFindingInfo{
			UID:         a.ID,
			Title:       a.Rule,
			Desc:        a.Output,
			CreatedTime: ms,
			Types:       nonEmpty(a.Check),
			DataSources: []string{"Kubernetes audit log"},
			Analytic:    ocsfAnalytic{UID: a.Check, Name: a.Rule, TypeID: ocsfAnalyticRule, Type: "Rule"},
		},
	}
	if res, ns, name := a.field("ka.target.resource"), a.field("ka.target.namespace"), a.field("ka.target.name"); res != "" || name != "" {
		r := ocsfResource{Name: name, Type: res, Namespace: ns}
		if sub := a.field("ka.target.subresource"); sub != "" {
			r.Type = res + "/" + sub
		}
		if a.Cluster != "" {
			r.Group = &struct {
				Name string `json:"name"`
			}{a.Cluster}
		}
		f.Resources = []ocsfResource{r}
	}
	var ev ocsfEvidence
	if u := a.field("ka.user.name"); u != "" {
		ev.Actor = &ocsfActor{}
		ev.Actor.User.Name = u
		f.Observables = append(f.Observables, ocsfObservable{Name: "actor.user.name", Type: "User Name", TypeID: 4, Value: u})
	}
	if ip := a.sourceIP(); ip != "" {
		ev.SrcEndpoint = &ocsfEndpoint{IP: ip}
		f.Observables = append(f.Observables, ocsfObservable{Name: "src_endpoint.ip", Type: "IP Address", TypeID: 2, Value: ip})
	}
	if verb := a.field("ka.verb"); verb != "" || a.AuditID != "" {
		ev.API = &ocsfAPI{Operation: verb}
		if a.AuditID != "" {
			ev.API.Request = &struct {
				UID string `json:"uid"`
			}{a.AuditID}
		}
	}
	if ev.Actor != nil || ev.SrcEndpoint != nil || ev.API != nil {
		f.Evidences = []ocsfEvidence{ev}
	}
	unmapped := map[string]any{}
	if a.Cluster != "" {
		unmapped["cluster"] = a.Cluster
	}
	if len(a.Tags) > 0 {
		unmapped["tags"] = a.Tags
	}
	if len(a.Fields) > 0 {
		unmapped["fields"] = a.Fields
	}
	unmapped["priority"] = a.Priority.String()
	f.Unmapped = unmapped
	return f
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			out = append(out, v)
		}
	}
	return out
}
