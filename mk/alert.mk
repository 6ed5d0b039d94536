# The alert sinks' integration tests (internal/alert) run a real syslog
# receiver: Debian's rsyslogd with its OpenSSL network driver (for TLS).
#
#   make alert-test-deps   install rsyslog and rsyslog-openssl if missing

.PHONY: alert-test-deps

# Installs only what is missing (CI is a fresh Debian machine where we are
# root). No rsyslog service is started: the tests run their own rsyslogd
# in a temporary directory on loopback ports.
alert-test-deps:
	@missing=""; \
	  command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] || missing="rsyslog"; \
	  [ -n "$$(ls /usr/lib/*/rsyslog/lmnsd_ossl.so /usr/lib/rsyslog/lmnsd_ossl.so 2>/dev/null)" ] || missing="$$missing rsyslog-openssl"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian's$$missing for the alert sink tests"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update && apt-get install -y --no-install-recommends $$missing; \
	  fi

# go test ./... in test-unit runs the rsyslog tests: install first.
test-unit: alert-test-deps

TEST_DEPS += alert-test-deps
