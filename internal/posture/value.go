package posture

import (
	"fmt"
	"strings"
)

// State says how much an input tells about one setting.
type State uint8

const (
	// Missing: the field is not in the input (a partial document, or a
	// shape that does not carry it). Checks that need it are not assessed.
	Missing State = iota
	// Default: the input says the setting is not configured (an explicit
	// null, an empty Terraform block, or a field left out of an ARM
	// template or REST resource whose API default is the insecure value),
	// so the API or provider default applies; V holds that default.
	Default
	// Set: the input sets the value.
	Set
	// Unresolved: the value is an ARM expression bulwark cannot evaluate,
	// or a Terraform value known only after apply.
	Unresolved
)

// Value is one setting of the normalised cluster, with where it was read.
type Value[T any] struct {
	V     T
	State State
	// Path names the field as the input spells it
	// ("properties.aadProfile.managed", "local_account_disabled").
	Path string
	// Line is the line of the field, or of its closest enclosing object
	// when the field is absent; 0 when unknown.
	Line int
	// Note explains an Unresolved or Missing value (the expression, "known
	// after apply", or why a null is not a default).
	Note string
}

// Known reports whether the value (set, or defaulted) can be used.
func (v Value[T]) Known() bool { return v.State == Set || v.State == Default }

// Get returns the value and whether it is known.
func (v Value[T]) Get() (T, bool) { return v.V, v.Known() }

// Why explains an unknown value, naming the field.
func (v Value[T]) Why() string {
	switch v.State {
	case Unresolved:
		if v.Note != "" {
			return fmt.Sprintf("%s is %s", v.Path, v.Note)
		}
		return v.Path + " cannot be resolved"
	case Missing:
		if v.Note != "" {
			return fmt.Sprintf("%s is missing (%s)", v.Path, v.Note)
		}
		return v.Path + " is missing"
	}
	return ""
}

// Describe renders the value for a message: "disableLocalAccounts is
// false" or "disableLocalAccounts is not set (default false)".
func (v Value[T]) Describe() string {
	switch v.State {
	case Set:
		return fmt.Sprintf("%s is %s", v.Path, render(v.V))
	case Default:
		return fmt.Sprintf("%s is not set (default %s)", v.Path, render(v.V))
	}
	return v.Why()
}

func render(v any) string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return `""`
		}
		return v
	case []string:
		if len(v) == 0 {
			return "empty"
		}
		return "[" + strings.Join(v, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// set, def and missing build values.
func set[T any](v T, path string, line int) Value[T] {
	return Value[T]{V: v, State: Set, Path: path, Line: line}
}

func def[T any](v T, path string, line int) Value[T] {
	return Value[T]{V: v, State: Default, Path: path, Line: line}
}

func missing[T any](path string, line int) Value[T] {
	return Value[T]{State: Missing, Path: path, Line: line}
}

func unresolved[T any](path string, line int, note string) Value[T] {
	return Value[T]{State: Unresolved, Path: path, Line: line, Note: note}
}
