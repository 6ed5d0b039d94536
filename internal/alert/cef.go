package alert

import (
	"net/netip"
	"strconv"
	"strings"
)

// appendCEF appends the alert as an ArcSight Common Event Format line:
//
//	CEF:0|Bulwark|bulwark|<version>|<check>|<rule>|<severity 0-10>|<extension>
//
// Header fields escape '\' and '|'; extension values escape '\', '=' and
// line breaks ("\n", "\r"). Empty extension values are left out.
func appendCEF(b []byte, a *Alert, version string) []byte {
	b = append(b, "CEF:0|"...)
	for _, h := range []string{"Bulwark", "bulwark", version, a.eventClass(), a.Rule} {
		b = appendCEFHeader(b, h)
		b = append(b, '|')
	}
	b = strconv.AppendInt(b, int64(severity10(a.Priority)), 10)
	b = append(b, '|')

	n := 0
	ext := func(key, val string) {
		if val == "" {
			return
		}
		if n > 0 {
			b = append(b, ' ')
		}
		n++
		b = append(b, key...)
		b = append(b, '=')
		b = appendCEFValue(b, val)
	}
	if !a.Time.IsZero() {
		ext("rt", epochMillis(a.Time))
	}
	ext("externalId", a.ID)
	ext("cat", a.Source)
	ext("msg", a.Output)
	ext("suser", a.field("ka.user.name"))
	if ip := a.sourceIP(); ip != "" {
		if addr, err := netip.ParseAddr(ip); err == nil && addr.Is4() {
			ext("src", ip)
		} else {
			ext("cs6Label", "sourceAddress")
			ext("cs6", ip)
		}
	}
	ext("act", a.field("ka.verb"))
	ext("request", a.field("ka.uri"))
	ext("requestClientApplication", a.field("ka.useragent"))
	if a.AuditID != "" {
		ext("cs1Label", "auditID")
		ext("cs1", a.AuditID)
	}
	if len(a.Requirements) > 0 {
		ext("cs2Label", "requirements")
		ext("cs2", strings.Join(a.Requirements, ","))
	}
	if a.Cluster != "" {
		ext("cs3Label", "cluster")
		ext("cs3", a.Cluster)
	}
	if len(a.Tags) > 0 {
		ext("cs4Label", "tags")
		ext("cs4", strings.Join(a.Tags, ","))
	}
	if r := resourcePath(a); r != "" {
		ext("cs5Label", "resource")
		ext("cs5", r)
	}
	ext("deviceSeverity", a.Priority.String())
	return b
}

// resourcePath renders the audited object as namespace/resource/name
// (with /subresource), as far as the rule's output captured it.
func resourcePath(a *Alert) string {
	res := a.field("ka.target.resource")
	if res == "" {
		return ""
	}
	parts := []string{}
	if ns := a.field("ka.target.namespace"); ns != "" {
		parts = append(parts, ns)
	}
	parts = append(parts, res)
	if name := a.field("ka.target.name"); name != "" {
		parts = append(parts, name)
	}
	if sub := a.field("ka.target.subresource"); sub != "" {
		parts = append(parts, sub)
	}
	return strings.Join(parts, "/")
}

func appendCEFHeader(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '|':
			b = append(b, '\\', c)
		case '\r', '\n':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendCEFValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '=':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}
