#!/bin/sh
# Entry point of the worker image: `dirigo worker <args>` with the metrics endpoint on $DIRIGO_METRICS_PORT (the
# health check asks it). exec: node replaces this shell as process 1 and receives SIGTERM directly.
exec node /opt/dirigo/sdk/runtime/bin/dirigo.js worker --metrics-port "${DIRIGO_METRICS_PORT:-9464}" "$@"
