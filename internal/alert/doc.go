// Package alert delivers detection alerts to SIEMs and other receivers
// (REQ-06).
//
// It holds the alert model built from a [detect.Alert], the [Sink]
// contract, the sinks themselves (stdout and file JSON lines, a generic
// JSON webhook, syslog RFC 5424 with a CEF body over UDP, TCP and TLS,
// Splunk HEC, the Azure Monitor Logs Ingestion API, Elasticsearch _bulk
// with ECS fields, and OCSF Detection Findings over the webhook
// transport), the stages that wrap any sink (a durable on-disk spool,
// retry with exponential backoff and jitter, a dedup window, a rate
// limit, metrics) and the [Router] that routes alerts by priority and
// tags to named sinks. [Build] wires all of it from a [Config].
//
// The flow for one alert:
//
//	Router.Send → dedup → route → spool (fsync) per sink
//	per-sink delivery goroutine: spool → rate limit → retry → sink.Send → ack
//
// A failure the sink calls permanent (an HTTP 4xx other than 408 and 429)
// is written to the sink's dead-letter file and acknowledged; every other
// failure is retried until it succeeds or the spool's age bound drops the
// alert, with a log line either way.
//
// It does not evaluate rules (package detect does) nor receive audit
// events (package audit).
package alert
