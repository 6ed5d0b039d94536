package detect

import (
	"fmt"
	"strings"
	"testing"
)

// dump renders a parsed condition with explicit structure.
func dump(e expr) string {
	switch e := e.(type) {
	case *andExpr:
		return "and(" + dumpList(e.list) + ")"
	case *orExpr:
		return "or(" + dumpList(e.list) + ")"
	case *notExpr:
		return "not(" + dump(e.x) + ")"
	case *identExpr:
		return "macro:" + e.name
	case *checkExpr:
		var vals []string
		for _, v := range e.values {
			vals = append(vals, fmt.Sprintf("%q", v.s))
		}
		s := e.field.String() + " " + e.op
		if len(vals) > 0 {
			s += " [" + strings.Join(vals, " ") + "]"
		}
		if e.listIdent {
			s += " (list name)"
		}
		return s
	}
	return fmt.Sprintf("%T", e)
}

func dumpList(l []expr) string {
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = dump(x)
	}
	return strings.Join(parts, ", ")
}

func TestParseCondition(t *testing.T) {
	tests := []struct{ in, want string }{
		{`ka.verb=create`, `ka.verb = ["create"]`},
		{`ka.verb == create`, `ka.verb == ["create"]`},
		{`ka.verb!=get`, `ka.verb != ["get"]`},
		{`ka.user.name=system:anonymous`, `ka.user.name = ["system:anonymous"]`},
		{`ka.uri startswith /healthz?`, `ka.uri startswith ["/healthz?"]`},
		{`ka.auth.decision="allow"`, `ka.auth.decision = ["allow"]`},
		{`ka.user.name = 'it''s'`, ``},
		{`ka.user.name = "a \"b\" c\\d\n\x41"`, "ka.user.name = [\"a \\\"b\\\" c\\\\d\\nA\"]"},
		{`ka.uri regex "/x/\d+"`, `ka.uri regex ["/x/\\d+"]`},
		{`ka.response.code >= 400`, `ka.response.code >= ["400"]`},
		{`ka.response.code < 0x1F`, `ka.response.code < ["0x1F"]`},
		{`ka.response.code > -1.5e+3`, `ka.response.code > ["-1.5e+3"]`},
		{`ka.target.subresource exists`, `ka.target.subresource exists`},
		{`ka.verb in (create, "up date",patch)`, `ka.verb in ["create" "up date" "patch"]`},
		{`ka.verb in()`, `ka.verb in`},
		{`ka.verb in my_list`, `ka.verb in ["my_list"] (list name)`},
		{`ka.req.role.rules.resources intersects ("*")`, `ka.req.role.rules.resources intersects ["*"]`},
		{`ka.req.pod.volumes.hostpath pmatch (/etc, /var/run)`, `ka.req.pod.volumes.hostpath pmatch ["/etc" "/var/run"]`},
		{`ka.uri.param[command] = sh`, `ka.uri.param[command] = ["sh"]`},
		{`jevt.value[/requestObject/spec/volumes] exists`, `jevt.value[/requestObject/spec/volumes] exists`},
		{`jevt.value["/a b"] = x`, `jevt.value[/a b] = ["x"]`},
		{`ka.req.pod.containers.image[0] startswith nginx`, `ka.req.pod.containers.image[0] startswith ["nginx"]`},
		{`tolower(ka.user.name) = bob`, `tolower(ka.user.name) = ["bob"]`},
		{`len(toupper(ka.user.groups)) > 2`, `len(toupper(ka.user.groups)) > ["2"]`},
		{`a and b or c and not d`, `or(and(macro:a, macro:b), and(macro:c, not(macro:d)))`},
		{`not not a`, `not(not(macro:a))`},
		{`not(a)`, `not(macro:a)`},
		{`(a or b) and c`, `and(or(macro:a, macro:b), macro:c)`},
		{"a\n  and\tb", `and(macro:a, macro:b)`},
		{`ka.verb=create and(a)`, `and(ka.verb = ["create"], macro:a)`},
		{`not_system and order_ok`, `and(macro:not_system, macro:order_ok)`},
		{`evt.dir = <`, `evt.dir = ["<"]`},
		// Syscall-rule constructs (Falco's falco_rules.yaml) parse too.
		{`fd.typechar='f' and fd.num>=0`, `and(fd.typechar = ["f"], fd.num >= ["0"])`},
		{`fd.num=-1 and evt.res startswith E`, `and(fd.num = ["-1"], evt.res startswith ["E"])`},
		{`proc.name!="<NA>"`, `proc.name != ["<NA>"]`},
		{`proc.aname[2] in (package_mgmt_binaries)`, `proc.aname[2] in ["package_mgmt_binaries"]`},
		{`(fd.ip != "0.0.0.0" and fd.net != "127.0.0.0/8")`, `and(fd.ip != ["0.0.0.0"], fd.net != ["127.0.0.0/8"])`},
		{`(evt.rawres >= 0 or evt.res = EINPROGRESS)`, `or(evt.rawres >= ["0"], evt.res = ["EINPROGRESS"])`},
		{`proc.duration <= 5000000000`, `proc.duration <= ["5000000000"]`},
		{`evt.type=setuid and evt.dir=>`, `and(evt.type = ["setuid"], evt.dir = [">"])`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := parseCondition(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("parsed %q as %s; want an error", tt.in, dump(e))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(e); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseConditionErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		msg    string
	}{
		{``, 0, "empty condition"},
		{`(ka.verb=create`, 0, "unbalanced parentheses: missing ')' for this '('"},
		{`ka.verb=create)`, 14, "unbalanced parentheses: unexpected ')'"},
		{`ka.verb in (a, b`, 11, "unbalanced parentheses: missing ')' closing this list"},
		{`((a)`, 0, "unbalanced parentheses"},
		{`)`, 0, "unbalanced parentheses: unexpected ')'"},
		{`ka.verb equals create`, 8, `unknown operator "equals" after field ka.verb`},
		{`ka.verb containz x`, 8, `unknown operator "containz"`},
		{`ka.verb`, 7, "missing operator after field ka.verb"},
		{`ka.verb =`, 9, "missing value at end of condition"},
		{`ka.verb = "open`, 10, "unterminated quoted string"},
		{`ka.code > abc`, 10, "operator > needs a number"},
		{`ka.verb in x.y`, 11, "operator in needs a list"},
		{`ka.verb = a b`, 12, "unexpected \"b\" after expression"},
		{`and`, 0, "unexpected keyword 'and'"},
		{`a or or b`, 5, "unexpected keyword 'or'"},
		{`a and`, 5, "unexpected end of condition"},
		{`ka.uri.param[x = y`, 12, "missing ']'"},
		{`macro[1] = x`, 0, "is not a field name"},
		{`ka.verb in (a b)`, 14, "expecting ',' or ')' in list"},
		{strings.Repeat("(", 2000) + "a" + strings.Repeat(")", 2000), -1, "nested too deeply"},
		{`tolower(ka.verb = x`, 0, "missing ')' closing tolower("},
		{`tolower(x) = y`, 8, "expecting a field name inside tolower()"},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 40)], func(t *testing.T) {
			_, err := parseCondition(tt.in)
			if err == nil {
				t.Fatalf("parsed %q", tt.in)
			}
			se, ok := err.(*SyntaxError)
			if !ok {
				t.Fatalf("error %T %v", err, err)
			}
			if tt.offset >= 0 && se.Offset != tt.offset {
				t.Errorf("offset %d, want %d (%v)", se.Offset, tt.offset, se)
			}
			if !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("message %q does not contain %q", se.Msg, tt.msg)
			}
		})
	}
}
