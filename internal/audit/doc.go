// Package audit holds Kubernetes API-server audit events: the
// audit.k8s.io/v1 Event model and its decoders for single events, the
// EventList bodies the audit webhook backend posts, and the JSON-lines
// files the log backend writes.
//
// An Event keeps the exact bytes it was decoded from, so nothing the API
// server logged is lost: the typed fields cover what every consumer needs
// (who, what, where from, outcome) and any other part is read with an RFC
// 6901 JSON pointer (Event.Pointer) or walked as a Value without decoding
// it into maps.
//
// The model is written here rather than taken from k8s.io/apiserver
// because decoding is on the hot path of detection: the decoder validates
// and reads an event in one pass over its bytes, several times faster than
// encoding/json into the API types, and leaves requestObject and
// responseObject raw until a consumer asks for a part of them.
//
// This package does not evaluate rules (see internal/detect) and does not
// send alerts.
package audit
