#!/usr/bin/env bash
# compose.yaml's primary: let the replica container stream from it (run once, at initdb).
set -euo pipefail
echo "host replication tcgraph all scram-sha-256" >> "$PGDATA/pg_hba.conf"
