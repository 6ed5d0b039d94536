package posture

import (
	"fmt"
	"strconv"
	"strings"
)

// VersionTable lists the Kubernetes minor versions AKS supports, as of a
// date. It is data: refresh it when AKS releases or retires a minor
// version (https://learn.microsoft.com/azure/aks/supported-kubernetes-versions),
// or override it in bulwark.yaml with
// checks.BW-AKS-024.parameters.supportedMinorVersions.
type VersionTable struct {
	// AsOf is the date the table describes (YYYY-MM-DD).
	AsOf string
	// Minors are the supported minor versions ("1.35"), oldest first.
	Minors []string
	// Source says where the table comes from.
	Source string
}

// Supported is the built-in table. AKS supports the three newest
// generally available minor versions (N-2) for community support; clusters
// on the Long Term Support plan (supportPlan AKSLongTermSupport) keep an
// LTS minor version longer and are not judged by this table.
var Supported = VersionTable{
	AsOf:   "2026-11-01",
	Minors: []string{"1.35", "1.36", "1.37"},
	Source: "AKS Kubernetes release calendar",
}

// supports reports whether the table supports version ("1.36.2",
// "v1.36", "1.36").
func (t VersionTable) supports(version string) (bool, error) {
	minor, err := minorOf(version)
	if err != nil {
		return false, err
	}
	for _, m := range t.Minors {
		if m == minor {
			return true, nil
		}
	}
	return false, nil
}

// String lists the versions and the date, for messages.
func (t VersionTable) String() string {
	return fmt.Sprintf("%s (as of %s)", strings.Join(t.Minors, ", "), t.AsOf)
}

// minorOf returns "major.minor" of a Kubernetes version.
func minorOf(v string) (string, error) {
	s := strings.TrimPrefix(strings.TrimSpace(v), "v")
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return "", fmt.Errorf("%q is not a Kubernetes version", v)
	}
	maj, err1 := strconv.Atoi(parts[0])
	min, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || maj < 0 || min < 0 {
		return "", fmt.Errorf("%q is not a Kubernetes version", v)
	}
	return fmt.Sprintf("%d.%d", maj, min), nil
}

// versionsFromParameter reads the supportedMinorVersions parameter: a
// list of "1.x" strings.
func versionsFromParameter(p any) (VersionTable, error) {
	list, ok := p.([]any)
	if !ok || len(list) == 0 {
		return VersionTable{}, fmt.Errorf("want a non-empty list of minor versions such as [\"1.36\", \"1.37\"]")
	}
	vt := VersionTable{AsOf: "configuration", Source: "bulwark.yaml"}
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return VersionTable{}, fmt.Errorf("%v is not a string", e)
		}
		m, err := minorOf(s)
		if err != nil {
			return VersionTable{}, err
		}
		vt.Minors = append(vt.Minors, m)
	}
	return vt, nil
}
