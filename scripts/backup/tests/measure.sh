#!/usr/bin/env bash
# Measurement for docs/backup.md (issue 22; not part of the suite, run by hand as root):
# a throwaway cluster (initdb in $W, unix socket only) with a ~600 MB database; logical
# (pg_dump / pf-backup, pg_restore / pf-restore) and physical (pg_basebackup, pgBackRest
# full / incr / restore / drill) timings on the same database, and the archive-async
# latency. Results in $W/results.txt. ROWS=4000000 by default; W=/var/tmp/pf-backup-measure;
# STEP_TIMEOUT=1800 seconds per command.
set -euo pipefail
BK=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
PGBIN=${PF_PG_BINDIR:-$(pg_config --bindir)}
W=${W:-/var/tmp/pf-backup-measure}
ROWS=${ROWS:-4000000}
# $W is removed and recreated: only a directory named pf-backup-measure*
[[ $W == /* && ${W##*/} == pf-backup-measure* ]] || { echo "W must be an absolute path to a directory named pf-backup-measure*" >&2; exit 2; }
rm -rf "$W"; mkdir -p "$W"; chown postgres: "$W"; chmod 755 "$W"
PORT=$((40000 + RANDOM % 10000))
# every child is bounded: a step that hangs ends the run (exit 124) instead of holding it
as() { timeout "${STEP_TIMEOUT:-1800}" runuser -u postgres -- env PATH="$PGBIN:$PATH" "$@"; }
ms() { echo $((($2 - $1) / 1000000)); }
now() { date +%s%N; }
q() { timeout "${STEP_TIMEOUT:-1800}" psql -X -q -At -h "$W" -p "$PORT" -U postgres -d "$1" -c "$2"; }
out() { printf '%s\n' "$*" | tee -a "$W/results.txt"; }
cleanup() {
  for d in "$W/data" "$W/r-pgbr" "$W/r-base"; do
    [[ -f $d/postmaster.pid ]] && as pg_ctl -D "$d" -m immediate -w stop >/dev/null 2>&1
  done
  return 0
}
trap cleanup EXIT
as initdb -D "$W/data" -U postgres -A trust >/dev/null
printf "listen_addresses = ''\nport = %s\nunix_socket_directories = '%s'\nwal_level = replica\nmax_wal_senders = 3\narchive_timeout = 60\n" "$PORT" "$W" >>"$W/data/postgresql.conf"
as pg_ctl -D "$W/data" -l "$W/server.log" -w start >/dev/null
PGBR=(as "$BK/pf-pgbackrest")
C=(--stanza m --config "$W/pgbr.conf")
"${PGBR[@]}" configure "${C[@]}" --pgdata "$W/data" --pg-port "$PORT" --pg-socket "$W" --repo "$W/repo" --spool "$W/spool" \
  --log-dir "$W/log" --lock-dir "$W/lock" --compress zst --process-max 2 >/dev/null 2>"$W/configure.err"
as pg_ctl -D "$W/data" -l "$W/server.log" -w restart >/dev/null
"${PGBR[@]}" check "${C[@]}" >/dev/null 2>"$W/check.err"
q postgres "CREATE DATABASE big"
t0=$(now)
q big "CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, total numeric(12,2), note text)"
q big "INSERT INTO orders SELECT g, g % 50000, (g % 100000) / 100.0, 'order number ' || g || ' for customer ' || (g % 50000) FROM generate_series(1, $ROWS) g"
q big "CREATE INDEX orders_customer ON orders (customer)"
q big "CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz, payload jsonb)"
q big "INSERT INTO events SELECT g, '2024-01-01'::timestamptz + g * interval '1 s', jsonb_build_object('k', g, 'v', md5(g::text)) FROM generate_series(1, $((ROWS / 4))) g"
q big "VACUUM ANALYZE"
q big "CHECKPOINT"
t1=$(now)
out "data: $ROWS + $((ROWS / 4)) rows, database $(q big "SELECT pg_size_pretty(pg_database_size('big'))") ($(q big "SELECT pg_database_size('big')") bytes), loaded in $(ms "$t0" "$t1") ms"
export PGHOST=$W PGPORT=$PORT PGUSER=postgres
# ---- logical
for round in 1 2; do
  t0=$(now); as pg_dump -h "$W" -p "$PORT" -Fc -d big -f "$W/plain.dump"; t1=$(now); pd=$(ms "$t0" "$t1")
  rm -rf "$W/pfb"; mkdir -p "$W/pfb"; chown postgres: "$W/pfb"
  t0=$(now); as env PGHOST="$W" PGPORT="$PORT" PGDATABASE=big "$BK/pf-backup" --dir "$W/pfb" --verify full >/dev/null 2>"$W/pfb.err"; t1=$(now); pb=$(ms "$t0" "$t1")
  rm -rf "$W/pfbl"; mkdir -p "$W/pfbl"; chown postgres: "$W/pfbl"
  t0=$(now); as env PGHOST="$W" PGPORT="$PORT" PGDATABASE=big "$BK/pf-backup" --dir "$W/pfbl" >/dev/null 2>"$W/pfbl.err"; t1=$(now); pbl=$(ms "$t0" "$t1")
  t0=$(now); q postgres "CREATE DATABASE plain_r"; as pg_restore -h "$W" -p "$PORT" -d plain_r "$W/plain.dump"; t1=$(now); pr=$(ms "$t0" "$t1")
  t0=$(now); as env PGHOST="$W" PGPORT="$PORT" "$BK/pf-restore" --target pf_r "$(ls "$W"/pfb/*.dump)" >/dev/null 2>"$W/pfr.err"; t1=$(now); rr=$(ms "$t0" "$t1")
  q postgres "DROP DATABASE plain_r"; q postgres "DROP DATABASE pf_r"
  out "round $round: dump $(stat -c %s "$W/plain.dump") bytes; pg_dump -Fc ${pd} ms; pf-backup --verify full ${pb} ms; pf-backup (default, --verify list) ${pbl} ms; createdb+pg_restore ${pr} ms; pf-restore ${rr} ms"
done
# ---- physical
rm -rf "$W/base"
t0=$(now); as pg_basebackup -h "$W" -p "$PORT" -D "$W/base" -Fp -Xstream -c fast; t1=$(now)
out "pg_basebackup -Fp -Xstream -c fast: $(ms "$t0" "$t1") ms, $(du -sb "$W/base" | cut -f1) bytes"
t0=$(now); "${PGBR[@]}" backup "${C[@]}" --type full >/dev/null 2>"$W/full.err"; t1=$(now)
out "pf-pgbackrest backup --type full (zst, process-max 2): $(ms "$t0" "$t1") ms, repo $(du -sb "$W/repo/backup" | cut -f1) bytes"
q big "UPDATE orders SET total = total + 1 WHERE id % 100 = 0"
q big "CHECKPOINT"
t0=$(now); "${PGBR[@]}" backup "${C[@]}" --type incr >/dev/null 2>"$W/incr.err"; t1=$(now)
out "pf-pgbackrest backup --type incr after updating 1 % of orders: $(ms "$t0" "$t1") ms"
# restore: pg_basebackup copy + start + promote vs pgBackRest restore + start + promote
P2=$((PORT + 1))
t0=$(now); as cp -a "$W/base" "$W/r-base"
printf "port = %s\n" "$P2" >>"$W/r-base/postgresql.auto.conf"
as pg_ctl -D "$W/r-base" -l "$W/r-base.log" -w start >/dev/null
t1=$(now); as pg_ctl -D "$W/r-base" -m fast -w stop >/dev/null
out "pg_basebackup restore (cp -a of the backup + start, WAL included): $(ms "$t0" "$t1") ms"
t0=$(now); "${PGBR[@]}" restore "${C[@]}" --pgdata "$W/r-pgbr" --archive-mode off >/dev/null 2>"$W/restore.err"; t1=$(now)
out "pf-pgbackrest restore (to the end of the archive, files only): $(ms "$t0" "$t1") ms"
mkdir -p "$W/scratch"; chown postgres: "$W/scratch"
t0=$(now); "${PGBR[@]}" drill "${C[@]}" --scratch-dir "$W/scratch" --no-amcheck >"$W/drill.out" 2>"$W/drill.err"; t1=$(now)
out "pf-pgbackrest drill (restore + replay + promote + row counts, no amcheck): $(ms "$t0" "$t1") ms: $(cat "$W/drill.out")"
# RPO with archive-async: time from a commit + segment switch until pg_stat_archiver reports the segment
for i in 1 2 3; do
  q big "INSERT INTO events VALUES ($((ROWS + i)), now(), '{}')"
  seg=$(q postgres "SELECT pg_walfile_name(pg_switch_wal())")
  t0=$(now)
  for _ in $(seq 1 600); do
    [[ $(q postgres "SELECT count(*) FROM pg_stat_archiver WHERE last_archived_wal >= '$seg'") == 1 ]] && break
    sleep 0.05
  done
  t1=$(now)
  out "archive-async: segment $seg archived $(ms "$t0" "$t1") ms after the switch"
done
