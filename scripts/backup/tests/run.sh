#!/usr/bin/env bash
# Tests for scripts/backup/pf-backup and pf-restore against a real PostgreSQL:
# the local server (127.0.0.1:5432 by default, PF_TEST_PGHOST/PORT/USER to
# change) in throwaway databases named pf_bk_test_<pid>_*, plus one throwaway
# cluster (initdb in a temporary directory, its own loopback port, password
# authentication, WAL archiving) for the password and point-in-time-recovery
# tests. Everything created is dropped/stopped/removed on exit, also on failure.
#
# Prints one line per test and closes with "backup tests: N passed, M failed";
# exits non-zero if any test failed.
set -euo pipefail

HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
BK=$HERE/../pf-backup
RS=$HERE/../pf-restore
SECRET=S3cr3tP4ss

export PGHOST=${PF_TEST_PGHOST:-127.0.0.1}
export PGPORT=${PF_TEST_PGPORT:-5432}
export PGUSER=${PF_TEST_PGUSER:-postgres}
export PGCONNECT_TIMEOUT=10
unset PGDATABASE PGPASSWORD DATABASE_URL PF_BACKUP_DIR PF_BACKUP_RETENTION_DAYS PF_BACKUP_LOCK_TIMEOUT PGSERVICE

PREFIX=pf_bk_test_$$_
ROLE=${PREFIX}owner
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pf-backup-tests.XXXXXX")
chmod 711 "$WORK" # the throwaway cluster runs as another user below it
cd "$WORK"

say() { printf '[backup tests %(%H:%M:%S)T] %s\n' -1 "$*"; }

# ---- PostgreSQL binaries for the throwaway cluster ------------------------------------
pg_bindir() {
  local p
  if [[ -n ${PF_PG_BINDIR:-} ]]; then
    printf '%s' "$PF_PG_BINDIR"
    return
  fi
  # the directory of the real initdb (Debian's /usr/bin tools are wrappers)
  if p=$(command -v initdb 2>/dev/null) && p=$(dirname "$(readlink -f "$p")") && [[ -x $p/pg_verifybackup ]]; then
    printf '%s' "$p"
    return
  fi
  for p in /usr/lib/postgresql/*/bin; do
    [[ -x $p/pg_verifybackup && -x $p/initdb ]] && printf '%s\n' "$p"
  done | sort -V | tail -n 1
}
PGBIN=$(pg_bindir)

# The cluster must not run as root: postgres refuses to.
as_pg() {
  if [[ $(id -u) == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (: </dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
      printf '%s' "$p"
      return 0
    fi
  done
  return 1
}
CPORT=$(free_port)
CDIR=$WORK/cluster # data dirs, socket, WAL archive of the throwaway cluster

# ---- cleanup ----------------------------------------------------------------------------
# Only what this run created: databases and roles named ${PREFIX}*, and the
# staging/scratch/old-copy databases whose names the tools of this run logged
# (pf_restore_<pid>_<time>[_old], pf_drill_<pid>_<time>). Never any other
# pf_restore_* database: another restore may be running on a shared server.
our_tool_dbs() {
  grep -rhoE 'pf_(restore|drill)_[0-9]+_[0-9]+(_old)?' "$WORK" --include='*.err' --include='*.log' --include='*.out' 2>/dev/null | sort -u || true
}
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$? d
  set +e
  trap - EXIT INT TERM
  for d in "$CDIR"/data "$CDIR"/restored "$WORK"/pgbr/data "$WORK"/pgbr/r-*; do
    if [[ -f $d/postmaster.pid ]]; then
      as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate -w -t 30 stop >/dev/null 2>&1
    fi
  done
  if [[ -n ${FULLMNT:-} ]] && mountpoint -q "$FULLMNT" 2>/dev/null; then umount "$FULLMNT" 2>/dev/null; fi
  { our_tool_dbs; cat "$WORK/created.dbs" 2>/dev/null; } >"$WORK/tool_dbs"
  timeout 60 psql -X -q -At -d postgres -v prefix="${PREFIX//_/\\_}%" -v names="$(paste -sd, "$WORK/tool_dbs" 2>/dev/null)" >/dev/null 2>&1 <<'SQL'
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', datname) FROM pg_database
 WHERE datname LIKE :'prefix' OR datname = ANY (string_to_array(:'names', ','))
\gexec
SELECT format('DROP ROLE IF EXISTS %I', rolname) FROM pg_roles WHERE rolname LIKE :'prefix'
\gexec
SQL
  cd /
  rm -rf -- "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers used inside tests ------------------------------------------------------------
fail() {
  echo "assertion failed: $*" >&2
  exit 1
}
# q DB SQL: one query, unaligned output
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
# sql DB <<< script
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1"; }
db_exists() { [[ $(q postgres "SELECT count(*) FROM pg_database WHERE datname = '$1'") == 1 ]]; }
# staging/scratch databases named in this run's tool output that still exist
leftover_tool_dbs() {
  local d
  while IFS= read -r d; do
    [[ -n $d ]] && db_exists "$d" && printf '%s\n' "$d"
  done < <(our_tool_dbs)
  return 0
}
assert_no_staging() {
  local s
  s=$(leftover_tool_dbs)
  [[ -z $s ]] || fail "staging/scratch database left behind: $s"
}

# capture TAG CMD...: run CMD with stdout/stderr in $WORK/TAG.out/.err, exit code in RC
RC=0
capture() {
  local tag=$1
  shift
  RC=0
  timeout 120 "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" || RC=$?
}
assert_rc() {
  local want=$1 tag=$2
  if [[ $RC != "$want" ]]; then
    echo "--- $tag stdout:" >&2
    cat "$WORK/$tag.out" >&2
    echo "--- $tag stderr:" >&2
    tail -n 30 "$WORK/$tag.err" >&2
    fail "$tag: exit code $RC, expected $want"
  fi
}
assert_grep() { grep -qE -- "$1" "$2" || fail "expected /$1/ in ${2##*/}: $(tail -n 5 "$2")"; }
assert_no_secret() {
  local f
  for f in "$@"; do
    if grep -qF -- "$SECRET" "$f"; then
      fail "the password appears in ${f##*/}"
    fi
    if grep -qF -- "S3cr3t" "$f"; then
      fail "part of the password appears in ${f##*/}"
    fi
  done
}
# every stderr line of the tools is a timestamped log line
assert_log_format() {
  local f=$1 bad
  bad=$(grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z pf-(backup|restore)\[[0-9]+\]: ' "$f" || true)
  [[ -z $bad ]] || fail "log lines without timestamp prefix in ${f##*/}: $bad"
}
# files in a directory other than the lock file
files_besides_lock() { find "$1" -mindepth 1 ! -name .pf-backup.lock | sort; }
# the only dump in a directory
only_dump() {
  local d=$1 f
  mapfile -t f < <(find "$d" -maxdepth 1 -name 'pf-backup_*.dump' | sort)
  [[ ${#f[@]} == 1 ]] || fail "expected one dump in $d, found ${#f[@]}"
  printf '%s' "${f[0]}"
}
# content checksum of one table: row count + md5 of all rows in a fixed order
table_sum() { q "$1" "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM $2 t"; }
url() { printf 'postgres://%s@%s:%s/%s' "$PGUSER" "$PGHOST" "$PGPORT" "$1"; }

# A small database used by several tests, and its backup.
FIXDB=${PREFIX}fixture
FIXDIR=$WORK/fixture
make_fixture() {
  q postgres "CREATE DATABASE $FIXDB"
  sql "$FIXDB" <<'SQL'
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 300) g;
CREATE TABLE tags (item_id int REFERENCES items, tag text);
INSERT INTO tags SELECT g % 300 + 1, 'tag' || (g % 7) FROM generate_series(1, 500) g;
SQL
  DATABASE_URL=$(url "$FIXDB") "$BK" --dir "$FIXDIR" >/dev/null 2>"$WORK/fixture.err" || {
    cat "$WORK/fixture.err" >&2
    return 1
  }
}
fixture_copy() {
  local d=$1
  mkdir -p "$d"
  cp -p "$FIXDIR"/pf-backup_* "$d"/
  only_dump "$d"
}

# ---- tests --------------------------------------------------------------------------------------

t_help_and_usage() {
  local tool
  for tool in "$BK" "$RS"; do
    capture help "$tool" --help
    assert_rc 0 help
    assert_grep '^Exit codes' "$WORK/help.out"
    assert_grep '^ +4  cannot connect' "$WORK/help.out"
    assert_grep '^ +10  pf-restore' "$WORK/help.out"
    assert_grep 'dry-run' "$WORK/help.out"
    capture bad "$tool" --no-such-option
    assert_rc 2 bad
  done
  capture nodir "$BK"
  assert_rc 2 nodir
  assert_grep 'dir.*required' "$WORK/nodir.err"
  capture notarget "$RS" /nonexistent.dump
  assert_rc 2 notarget
  assert_grep 'target.*required' "$WORK/notarget.err"
  capture badret "$BK" --dir "$WORK/x" --retention-days seven
  assert_rc 2 badret
}

t_round_trip() {
  local src=${PREFIX}rt_src dst=${PREFIX}rt_dst dir=$WORK/rt dump t
  q postgres "CREATE DATABASE $src"
  sql "$src" >/dev/null <<'SQL'
CREATE SCHEMA shop;
CREATE SEQUENCE shop.invoice_no START 1000 INCREMENT 7;
CREATE TABLE shop.customers (
  id bigserial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text,
  created_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00',
  meta jsonb
);
CREATE TABLE shop.orders (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES shop.customers (id),
  invoice bigint NOT NULL DEFAULT nextval('shop.invoice_no'),
  total numeric(12, 2) NOT NULL,
  status text NOT NULL CHECK (status IN ('new', 'paid', 'shipped')),
  placed_at timestamptz NOT NULL
);
CREATE INDEX orders_customer_idx ON shop.orders (customer_id);
CREATE INDEX orders_open_idx ON shop.orders (placed_at) WHERE status <> 'shipped';
CREATE TABLE shop.order_items (
  order_id bigint REFERENCES shop.orders (id) ON DELETE CASCADE,
  line int,
  sku text,
  qty int NOT NULL,
  PRIMARY KEY (order_id, line)
);
CREATE INDEX order_items_sku_idx ON shop.order_items (lower(sku));
CREATE TABLE public."Audit Log" (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text, payload bytea);
CREATE TABLE public.empty_table (x int);
CREATE VIEW shop.customer_totals AS
  SELECT c.id, c.email, count(o.id) AS orders, coalesce(sum(o.total), 0) AS total
    FROM shop.customers c LEFT JOIN shop.orders o ON o.customer_id = c.id
   GROUP BY c.id, c.email;
INSERT INTO shop.customers (email, name, created_at, meta)
  SELECT 'c' || g || '@example.com', CASE WHEN g % 10 = 0 THEN NULL ELSE 'Customer ' || g END,
         '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 hour',
         jsonb_build_object('tier', g % 3, 'tags', jsonb_build_array('a', g))
    FROM generate_series(1, 500) g;
INSERT INTO shop.orders (customer_id, total, status, placed_at)
  SELECT g % 500 + 1, (g * 13 % 10000) / 100.0, (ARRAY['new', 'paid', 'shipped'])[g % 3 + 1],
         '2024-02-01 00:00:00+00'::timestamptz + g * interval '1 minute'
    FROM generate_series(1, 1500) g;
INSERT INTO shop.order_items SELECT (g - 1) / 2 + 1, g % 2, 'SKU-' || (g % 97), g % 5 + 1 FROM generate_series(1, 3000) g;
INSERT INTO public."Audit Log" (note, payload)
  SELECT CASE WHEN g % 4 = 0 THEN NULL ELSE E'line one\nline two\ttab ''quoted'' ' || g END, decode(md5(g::text), 'hex')
    FROM generate_series(1, 200) g;
SELECT setval('shop.invoice_no', 99999, false);
SQL

  capture rt_backup env DATABASE_URL="$(url "$src")" "$BK" --dir "$dir"
  assert_rc 0 rt_backup
  assert_log_format "$WORK/rt_backup.err"
  # the default verification reads the TOC back; --verify full also reads every block
  assert_grep 'verified TOC: [0-9]+ entries, 5 TABLE DATA' "$WORK/rt_backup.err"
  ! grep -q 'full read' "$WORK/rt_backup.err" || fail "the default verification read the whole dump"
  capture rt_backup_full env DATABASE_URL="$(url "$src")" "$BK" --dir "$WORK/rt_full" --verify full
  assert_rc 0 rt_backup_full
  assert_grep 'verifying: full read \(pg_restore --file=/dev/null\)' "$WORK/rt_backup_full.err"
  [[ $(wc -l <"$WORK/rt_backup.out") == 1 ]] || fail "summary is not one line"
  assert_grep '^pf-backup: ok file=/.*/pf-backup_'"$src"'_[0-9]{8}T[0-9]{6}Z\.dump size=[0-9]+ \([0-9.]+[KMG]?i?B\) duration=[0-9]+\.[0-9]{2}s ' "$WORK/rt_backup.out"
  dump=$(only_dump "$dir")
  for t in "$dump" "$dump.sha256" "$dump.manifest"; do
    [[ -f $t ]] || fail "missing $t"
    [[ $(stat -c %a "$t") == 600 ]] || fail "$t has mode $(stat -c %a "$t"), expected 600"
  done
  [[ -z $(find "$dir" -name '.*.tmp.*') ]] || fail "temporary files left in $dir"
  (cd "$dir" && sha256sum --check --strict --quiet "${dump##*/}.sha256") || fail "sha256sum --check of the sidecar failed"
  # manifest: exact row counts of every table
  assert_grep "^database	$src\$" "$dump.manifest"
  assert_grep '^server_version	[0-9]+' "$dump.manifest"
  assert_grep '^created_at	[0-9]{4}-' "$dump.manifest"
  assert_grep '^table	500	shop\.customers$' "$dump.manifest"
  assert_grep '^table	1500	shop\.orders$' "$dump.manifest"
  assert_grep '^table	3000	shop\.order_items$' "$dump.manifest"
  assert_grep '^table	200	public\."Audit Log"$' "$dump.manifest"
  assert_grep '^table	0	public\.empty_table$' "$dump.manifest"
  [[ $(grep -c '^table	' "$dump.manifest") == 5 ]] || fail "manifest should list exactly 5 tables"

  capture rt_restore env DATABASE_URL="$(url "$src")" "$RS" --target "$dst" --jobs 2 --exit-on-error "$dump"
  assert_rc 0 rt_restore
  assert_log_format "$WORK/rt_restore.err"
  assert_grep "^pf-restore: ok database=$dst tables=5 rows=5200 validated against manifest" "$WORK/rt_restore.out"
  assert_grep 'validation ok: 5 tables present, all row counts equal' "$WORK/rt_restore.err"
  assert_no_staging
  # ANALYZE (beside the validation) ran before the swap: planner statistics are there
  [[ $(q "$dst" "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = 'shop' AND last_analyze IS NOT NULL") == 3 ]] ||
    fail "the restored tables were not analyzed"

  # schema identical (modulo the database name)
  # (pg_dump >= 15.14 writes a random \restrict key per run: not part of the schema)
  pg_dump --schema-only -d "$src" | sed -e "s/$src/DBNAME/g" -e '/^\\\(un\)\?restrict /d' >"$WORK/rt_src.schema"
  pg_dump --schema-only -d "$dst" | sed -e "s/$dst/DBNAME/g" -e '/^\\\(un\)\?restrict /d' >"$WORK/rt_dst.schema"
  diff -u "$WORK/rt_src.schema" "$WORK/rt_dst.schema" >&2 || fail "schema differs after restore"
  grep -q 'CREATE VIEW shop.customer_totals' "$WORK/rt_dst.schema" || fail "view missing"
  grep -q 'CREATE INDEX orders_open_idx' "$WORK/rt_dst.schema" || fail "partial index missing"
  # data identical, table by table
  for t in shop.customers shop.orders shop.order_items 'public."Audit Log"' public.empty_table shop.customer_totals; do
    [[ $(table_sum "$src" "$t") == "$(table_sum "$dst" "$t")" ]] || fail "content of $t differs"
  done
  # sequences carry on where they were
  [[ $(q "$dst" "SELECT last_value, is_called FROM shop.invoice_no") == "99999|f" ]] || fail "sequence state not restored"
  [[ $(q "$src" "SELECT last_value FROM shop.customers_id_seq") == "$(q "$dst" "SELECT last_value FROM shop.customers_id_seq")" ]] ||
    fail "serial sequence state differs"
  [[ $(q "$dst" "INSERT INTO public.\"Audit Log\" (note) VALUES ('x') RETURNING id") == 201 ]] || fail "identity sequence state not restored"
}

t_dry_run() {
  local dir=$WORK/dry dump target=${PREFIX}dry_target
  capture dry_backup env DATABASE_URL="$(url "$FIXDB")" "$BK" --dir "$dir" --dry-run
  assert_rc 0 dry_backup
  assert_grep '^pf-backup: dry-run ok, would write ' "$WORK/dry_backup.out"
  [[ ! -e $dir ]] || [[ -z $(files_besides_lock "$dir") ]] || fail "dry-run wrote files: $(ls -A "$dir")"
  dump=$(fixture_copy "$WORK/dry_fixture")
  capture dry_restore "$RS" --target "$target" --dry-run "$dump"
  assert_rc 0 dry_restore
  assert_grep '^pf-restore: dry-run ok' "$WORK/dry_restore.out"
  ! db_exists "$target" || fail "dry-run created the target database"
  assert_no_staging
}

t_corrupt_and_truncated() {
  local dir=$WORK/corrupt dump size target=${PREFIX}corrupt_target
  dump=$(fixture_copy "$dir")
  size=$(stat -c %s "$dump")
  # corruption in the middle (same size), restore must refuse before connecting:
  # the server in DATABASE_URL is unreachable and the exit code is still 10
  cp -p "$dump" "$WORK/orig.dump"
  printf 'CORRUPTCORRUPT!!' | dd of="$dump" bs=1 seek=$((size / 2)) conv=notrunc status=none
  [[ $(stat -c %s "$dump") == "$size" ]] || fail "corruption changed the size"
  capture corrupt env DATABASE_URL="postgres://u:$SECRET@127.0.0.1:1/x" "$RS" --target "$target" "$dump"
  assert_rc 10 corrupt
  assert_grep 'checksum mismatch' "$WORK/corrupt.err"
  assert_no_secret "$WORK/corrupt.out" "$WORK/corrupt.err"
  # same on the real server: nothing created
  capture corrupt2 "$RS" --target "$target" "$dump"
  assert_rc 10 corrupt2
  ! db_exists "$target" || fail "target created from a corrupt file"
  # truncated
  cp -p "$WORK/orig.dump" "$dump"
  truncate -s $((size / 2)) "$dump"
  capture truncated "$RS" --target "$target" "$dump"
  assert_rc 10 truncated
  assert_grep 'checksum mismatch' "$WORK/truncated.err"
  ! db_exists "$target" || fail "target created from a truncated file"
  # missing sidecar
  cp -p "$WORK/orig.dump" "$dump"
  mv "$dump.sha256" "$WORK/sidecar"
  capture nosidecar "$RS" --target "$target" "$dump"
  assert_rc 10 nosidecar
  assert_grep 'sidecar .* is missing' "$WORK/nosidecar.err"
  mv "$WORK/sidecar" "$dump.sha256"
  # manifest edited without updating the sidecar
  sed -i 's/^table	300	/table	301	/' "$dump.manifest"
  capture badmanifest "$RS" --target "$target" "$dump"
  assert_rc 10 badmanifest
  assert_grep 'checksum mismatch for .*\.manifest' "$WORK/badmanifest.err"
  # a file that is not a dump at all, with matching checksums
  head -c 4096 /dev/urandom >"$dump"
  (cd "$dir" && sha256sum "${dump##*/}" "${dump##*/}.manifest" >"${dump##*/}.sha256")
  capture notadump "$RS" --target "$target" "$dump"
  assert_rc 10 notadump
  assert_grep 'pg_restore cannot read' "$WORK/notadump.err"
  ! db_exists "$target" || fail "target created"
  assert_no_staging
}

t_connection_errors() {
  local dir=$WORK/conn dump target=${PREFIX}conn_target tag
  # unreachable port; wrong user (the local server uses trust auth, so a
  # missing role is its "wrong credentials"); real wrong passwords are tested
  # on the throwaway cluster below
  for tag in unreachable wronguser; do
    rm -rf "$dir"
    if [[ $tag == unreachable ]]; then
      capture "$tag" env DATABASE_URL="postgres://u:$SECRET@127.0.0.1:1/x" "$BK" --dir "$dir"
      assert_grep 'cannot connect to PostgreSQL at u@127\.0\.0\.1:1: .*(refused|could not connect)' "$WORK/$tag.err"
    else
      capture "$tag" env DATABASE_URL="postgres://pf_no_such_user_$$:$SECRET@$PGHOST:$PGPORT/$FIXDB" "$BK" --dir "$dir"
      assert_grep 'cannot connect to PostgreSQL .*role "pf_no_such_user_[0-9]+" does not exist' "$WORK/$tag.err"
    fi
    assert_rc 4 "$tag"
    assert_log_format "$WORK/$tag.err"
    assert_no_secret "$WORK/$tag.out" "$WORK/$tag.err"
    [[ -z $(files_besides_lock "$dir") ]] || fail "$tag left files: $(files_besides_lock "$dir")"
  done
  # restore: checksum fine, server unreachable / wrong user
  dump=$(fixture_copy "$WORK/conn_fixture")
  capture r_unreachable env DATABASE_URL="postgres://u:$SECRET@127.0.0.1:1/x" "$RS" --target "$target" "$dump"
  assert_rc 4 r_unreachable
  assert_no_secret "$WORK/r_unreachable.out" "$WORK/r_unreachable.err"
  capture r_wronguser env DATABASE_URL="postgres://pf_no_such_user_$$:$SECRET@$PGHOST:$PGPORT/postgres" "$RS" --target "$target" "$dump"
  assert_rc 4 r_wronguser
  assert_grep 'does not exist' "$WORK/r_wronguser.err"
  assert_no_secret "$WORK/r_wronguser.out" "$WORK/r_wronguser.err"
  ! db_exists "$target" || fail "target created"
  # a malformed URL is a configuration error, and the password is not echoed
  capture badurl env DATABASE_URL="mysql://u:$SECRET@127.0.0.1/x" "$BK" --dir "$dir"
  assert_rc 3 badurl
  assert_no_secret "$WORK/badurl.out" "$WORK/badurl.err"
}

t_dump_failure_leaves_nothing() {
  local dir=$WORK/dumpfail fake=$WORK/fakebin pid
  # A pg_dump that writes part of a dump and then fails, or hangs: placed
  # first in PATH through PF_PG_BINDIR (psql and pg_restore stay the real ones).
  mkdir -p "$fake"
  cat >"$fake/pg_dump" <<'FAKE'
#!/usr/bin/env bash
for a in "$@"; do
  case $a in --file=*) out=${a#--file=} ;; --version) exec /usr/bin/pg_dump --version ;; esac
done
head -c 65536 /dev/urandom >"$out"
if [[ ${FAKE_PG_DUMP:-} == hang ]]; then
  echo $$ >"$FAKE_PID_FILE"
  exec sleep 60
fi
echo "pg_dump: error: fake failure in the middle of the dump" >&2
exit 1
FAKE
  chmod +x "$fake/pg_dump"
  capture dumpfail env PF_PG_BINDIR="$fake" DATABASE_URL="$(url "$FIXDB")" "$BK" --dir "$dir"
  assert_rc 6 dumpfail
  assert_grep 'pg_dump failed \(exit 1\): pg_dump: error: fake failure' "$WORK/dumpfail.err"
  [[ -z $(files_besides_lock "$dir") ]] || fail "partial files left: $(files_besides_lock "$dir")"
  # interrupted (SIGTERM) while pg_dump runs: temporary file removed, pg_dump stopped
  FAKE_PG_DUMP=hang FAKE_PID_FILE=$WORK/fake.pid PF_PG_BINDIR=$fake DATABASE_URL=$(url "$FIXDB") "$BK" --dir "$dir" >"$WORK/term.out" 2>"$WORK/term.err" &
  pid=$!
  for _ in $(seq 1 300); do
    [[ -n $(find "$dir" -name '.*.tmp.*' -size +0) ]] && break
    sleep 0.1
  done
  [[ -n $(find "$dir" -name '.*.tmp.*' -size +0) ]] || fail "test setup: no temporary file while pg_dump runs"
  kill -TERM "$pid"
  RC=0
  wait "$pid" || RC=$?
  [[ $RC != 0 ]] || fail "an interrupted backup exited 0"
  assert_grep 'interrupted' "$WORK/term.err"
  [[ -z $(files_besides_lock "$dir") ]] || fail "files left after SIGTERM: $(files_besides_lock "$dir")"
  ! kill -0 "$(cat "$WORK/fake.pid")" 2>/dev/null || fail "pg_dump still running after SIGTERM"
}

t_existing_target() {
  local target=${PREFIX}existing dump before
  dump=$(fixture_copy "$WORK/existing")
  q postgres "CREATE DATABASE $target"
  sql "$target" <<<"CREATE TABLE precious (id int); INSERT INTO precious SELECT generate_series(1, 42);"
  before=$(table_sum "$target" precious)
  capture existing "$RS" --target "$target" "$dump"
  assert_rc 11 existing
  assert_grep "database '$target' already exists; refusing" "$WORK/existing.err"
  [[ $(table_sum "$target" precious) == "$before" ]] || fail "existing data changed"
  [[ $(q "$target" "SELECT count(*) FROM pg_tables WHERE tablename = 'items'") == 0 ]] || fail "objects restored into the existing database"
  assert_no_staging
  # the dump's source database: --force alone is not enough
  capture source "$RS" --target "$FIXDB" --force "$dump"
  assert_rc 11 source
  assert_grep 'is the database this dump was taken from.*--into-source-db' "$WORK/source.err"
  [[ $(q "$FIXDB" "SELECT count(*) FROM items") == 300 ]] || fail "source database changed"
  # --force replaces an existing database, after a validated restore
  capture forced "$RS" --target "$target" --force "$dump"
  assert_rc 0 forced
  [[ $(q "$target" "SELECT count(*) FROM items") == 300 ]] || fail "forced restore did not restore items"
  [[ $(q "$target" "SELECT count(*) FROM pg_tables WHERE tablename = 'precious'") == 0 ]] || fail "forced restore kept old tables"
  # both flags: the source itself is replaced (the fixture database is throwaway)
  q "$FIXDB" "INSERT INTO items VALUES (1000, 'added after the backup')"
  capture intosource "$RS" --target "$FIXDB" --force --into-source-db "$dump"
  assert_rc 0 intosource
  [[ $(q "$FIXDB" "SELECT count(*) FROM items") == 300 ]] || fail "source not replaced by the backup's content"
  assert_no_staging
}

t_validation_failure() {
  local dir=$WORK/validation dump target=${PREFIX}validation
  dump=$(fixture_copy "$dir")
  # a manifest that disagrees with the dump, with consistent checksums
  sed -i 's/^table	300	public\.items$/table	301	public.items/' "$dump.manifest"
  grep -q '^table	301	public.items$' "$dump.manifest" || fail "test setup: manifest not edited"
  (cd "$dir" && sha256sum "${dump##*/}" "${dump##*/}.manifest" >"${dump##*/}.sha256")
  capture validation "$RS" --target "$target" "$dump"
  assert_rc 13 validation
  assert_grep 'ROW COUNT differs for public\.items: manifest 301, restored 300' "$WORK/validation.err"
  assert_grep '^pf-restore: validation FAILED' "$WORK/validation.out"
  ! db_exists "$target" || fail "target created although validation failed"
  assert_no_staging
}

t_exit_on_error_and_no_owner() {
  local src=${PREFIX}owned dir=$WORK/owned dump target=${PREFIX}owned_r
  q postgres "CREATE ROLE \"$ROLE\""
  q postgres "CREATE DATABASE $src"
  sql "$src" <<<"CREATE TABLE owned (id int); INSERT INTO owned SELECT generate_series(1, 10); ALTER TABLE owned OWNER TO \"$ROLE\";"
  capture owned_backup env DATABASE_URL="$(url "$src")" "$BK" --dir "$dir"
  assert_rc 0 owned_backup
  dump=$(only_dump "$dir")
  q postgres "DROP DATABASE $src"
  q postgres "DROP ROLE \"$ROLE\""
  # the owner role no longer exists: pg_restore fails
  capture eoe "$RS" --target "$target" --exit-on-error "$dump"
  assert_rc 12 eoe
  assert_grep "role \"$ROLE\" does not exist" "$WORK/eoe.err"
  ! db_exists "$target" || fail "target created by a failed restore"
  assert_no_staging
  capture noeoe "$RS" --target "$target" "$dump"
  assert_rc 12 noeoe
  assert_grep 'errors ignored on restore' "$WORK/noeoe.err"
  ! db_exists "$target" || fail "target created by a failed restore"
  assert_no_staging
  capture noowner "$RS" --target "$target" --no-owner "$dump"
  assert_rc 0 noowner
  [[ $(q "$target" "SELECT count(*) FROM owned") == 10 ]] || fail "--no-owner restore incomplete"
}

t_retention() {
  local db=${PREFIX}ret dir=$WORK/ret f
  q postgres "CREATE DATABASE $db"
  q "$db" "CREATE TABLE t AS SELECT generate_series(1, 10) AS id"
  mkdir -p "$dir/subdir"
  mk() { # mk AGE NAME...: manifests name the database (DB_OF_MANIFEST, default db)
    local age=$1 n
    shift
    for n in "$@"; do
      if [[ $n == *.manifest ]]; then
        printf 'format\tpf-backup-manifest-1\ndatabase\t%s\n' "${DB_OF_MANIFEST:-$db}" >"$dir/$n"
      else
        printf 'x\n' >"$dir/$n"
      fi
      touch -d "$age" "$dir/$n"
    done
  }
  local L=pf-backup_$db
  mk '10 days ago' "${L}_20200101T000000Z.dump" "${L}_20200101T000000Z.dump.sha256" "${L}_20200101T000000Z.dump.manifest"
  mk '8 days ago' "${L}_20200102T000000Z.dump" "${L}_20200102T000000Z.dump.sha256" "${L}_20200102T000000Z.dump.manifest"
  mk '6 days ago' "${L}_20200103T000000Z.dump" "${L}_20200103T000000Z.dump.sha256" "${L}_20200103T000000Z.dump.manifest"
  mk '1 day ago' "${L}_20200104T000000Z.dump" "${L}_20200104T000000Z.dump.sha256" "${L}_20200104T000000Z.dump.manifest"
  mk '10 days ago' "${L}_20191231T000000Z.dump.manifest"           # orphaned manifest of this database: deleted
  mk '10 days ago' "${L}_20191230T000000Z.dump.sha256"             # orphaned checksum file: cannot be attributed, kept
  mk '10 days ago' ".${L}_20200101T000000Z.dump.tmp.AbC123"        # leftover of a killed run: deleted
  mk '10 days ago' notes.txt other.dump "${L}_2020.dump" "${L}_20200101T000000Z.dump.bak" \
    "pf-backup_other_db_20200101T000000Z.dump" "x${L}_20200101T000000Z.dump" "subdir/${L}_20200101T000000Z.dump"
  # same label, but the manifest names another database (a colliding label of an older version): kept
  DB_OF_MANIFEST=${db}x mk '10 days ago' "${L}_20191229T000000Z.dump" "${L}_20191229T000000Z.dump.sha256" "${L}_20191229T000000Z.dump.manifest"
  # no manifest at all: kept
  mk '10 days ago' "${L}_20191228T000000Z.dump"

  capture ret_dry env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir" --dry-run
  assert_rc 0 ret_dry
  assert_grep "dry-run: retention would delete ${L}_20200101T000000Z\\.dump\$" "$WORK/ret_dry.err"
  [[ -f $dir/${L}_20200101T000000Z.dump ]] || fail "dry-run deleted a file"

  capture ret7 env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir"
  assert_rc 0 ret7
  for f in "${L}_20200101T000000Z.dump" "${L}_20200101T000000Z.dump.sha256" "${L}_20200101T000000Z.dump.manifest" \
    "${L}_20200102T000000Z.dump" "${L}_20200102T000000Z.dump.sha256" "${L}_20200102T000000Z.dump.manifest" \
    "${L}_20191231T000000Z.dump.manifest" ".${L}_20200101T000000Z.dump.tmp.AbC123"; do
    [[ ! -e $dir/$f ]] || fail "retention (7 days) kept old file $f"
  done
  for f in "${L}_20200103T000000Z.dump" "${L}_20200103T000000Z.dump.sha256" "${L}_20200103T000000Z.dump.manifest" \
    "${L}_20200104T000000Z.dump" notes.txt other.dump "${L}_2020.dump" "${L}_20200101T000000Z.dump.bak" \
    "pf-backup_other_db_20200101T000000Z.dump" "x${L}_20200101T000000Z.dump" "subdir/${L}_20200101T000000Z.dump" \
    "${L}_20191230T000000Z.dump.sha256" "${L}_20191229T000000Z.dump" "${L}_20191229T000000Z.dump.manifest" "${L}_20191228T000000Z.dump"; do
    [[ -e $dir/$f ]] || fail "retention (7 days) deleted $f"
  done
  assert_grep 'retention: 8 file\(s\) older than 7 day\(s\) deleted' "$WORK/ret7.err"

  capture ret5 env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir" --retention-days 5
  assert_rc 0 ret5
  [[ ! -e $dir/${L}_20200103T000000Z.dump && ! -e $dir/${L}_20200103T000000Z.dump.manifest ]] ||
    fail "retention (5 days) kept the 6-day-old backup"
  [[ -e $dir/${L}_20200104T000000Z.dump && -e $dir/notes.txt ]] || fail "retention (5 days) deleted too much"
  [[ $(find "$dir" -maxdepth 1 -name "${L}_2*Z.dump" -newermt '1 hour ago' | wc -l) == 2 ]] ||
    fail "the two fresh backups should both be there"

  touch -d '30 days ago' "$dir"/*
  capture ret0 env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir" --retention-days 0
  assert_rc 0 ret0
  assert_grep 'retention disabled' "$WORK/ret0.err"
  [[ -e $dir/${L}_20200104T000000Z.dump ]] || fail "--retention-days 0 deleted files"
}

t_concurrent_backups() {
  local db=${PREFIX}lock dir=$WORK/lock holder_app=pf_bk_lock_holder_$$ a_pid d_pid n p secret_url
  q postgres "CREATE DATABASE $db"
  q "$db" "CREATE TABLE t AS SELECT generate_series(1, 1000) AS id"
  # Hold an exclusive lock on t so that backup A blocks inside its run
  # (while holding the backup directory's lock).
  PGAPPNAME=$holder_app psql -X -q -d "$db" >/dev/null 2>&1 <<'SQL' &
BEGIN;
LOCK TABLE t IN ACCESS EXCLUSIVE MODE;
SELECT pg_sleep(60);
SQL
  for _ in $(seq 1 100); do
    n=$(q postgres "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = '$holder_app' AND l.mode = 'AccessExclusiveLock' AND l.granted")
    [[ $n -ge 1 ]] && break
    sleep 0.1
  done
  [[ $n -ge 1 ]] || fail "test setup: lock holder did not start"

  # A password in the URL (ignored by trust auth): it must not show in ps or in a child's environment.
  secret_url="postgres://$PGUSER:$SECRET@$PGHOST:$PGPORT/$db"
  DATABASE_URL=$secret_url "$BK" --dir "$dir" >"$WORK/lock_a.out" 2>"$WORK/lock_a.err" &
  a_pid=$!
  for _ in $(seq 1 300); do
    grep -q 'counting rows' "$WORK/lock_a.err" 2>/dev/null && break
    sleep 0.1
  done
  grep -q 'counting rows' "$WORK/lock_a.err" || fail "backup A did not get going: $(cat "$WORK/lock_a.err")"
  # shellcheck disable=SC2009 # pgrep -f would match its own command line
  if ps -eo args | grep -F -- "$SECRET" | grep -v grep; then
    fail "the password is visible in ps"
  fi
  for p in $(pgrep -P "$a_pid"); do
    if tr '\0' '\n' <"/proc/$p/environ" | grep -qE -- "$SECRET|^PGPASSWORD="; then
      fail "the password is in the environment of child $p ($(cat "/proc/$p/comm"))"
    fi
  done

  # B: no waiting
  capture lock_b env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir" --lock-timeout 0
  assert_rc 5 lock_b
  assert_grep 'another pf-backup run holds the lock on .*not waiting' "$WORK/lock_b.err"
  # C: waits one second, then gives up
  capture lock_c env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir" --lock-timeout 1
  assert_rc 5 lock_c
  assert_grep 'waiting up to 1s' "$WORK/lock_c.err"
  assert_grep 'still holds the lock .* after 1s; giving up' "$WORK/lock_c.err"
  [[ -z $(find "$dir" -maxdepth 1 -name 'pf-backup_*') ]] || fail "a blocked run wrote files"
  # D: waits (default timeout), then runs after A
  DATABASE_URL=$(url "$db") "$BK" --dir "$dir" >"$WORK/lock_d.out" 2>"$WORK/lock_d.err" &
  d_pid=$!
  for _ in $(seq 1 300); do
    grep -q 'waiting up to 60s' "$WORK/lock_d.err" 2>/dev/null && break
    sleep 0.1
  done
  assert_grep 'waiting up to 60s' "$WORK/lock_d.err"
  # release the table lock: A finishes, then D
  q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$holder_app'" >/dev/null
  RC=0
  wait "$a_pid" || RC=$?
  assert_rc 0 lock_a
  RC=0
  wait "$d_pid" || RC=$?
  assert_rc 0 lock_d
  [[ $(find "$dir" -maxdepth 1 -name 'pf-backup_*.dump' | wc -l) == 2 ]] || fail "expected two backups, got: $(ls "$dir")"
  for p in "$dir"/pf-backup_*.dump; do
    (cd "$dir" && sha256sum --check --quiet "${p##*/}.sha256") || fail "checksum of $p"
    assert_grep '^table	1000	public\.t$' "$p.manifest"
  done
  assert_no_secret "$WORK/lock_a.out" "$WORK/lock_a.err"
}

t_consistent_under_writes() {
  local db=${PREFIX}busy dir=$WORK/busy target=${PREFIX}busy_r writer_pid dump n0 n1 counted
  q postgres "CREATE DATABASE $db"
  q "$db" "CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())"
  # a writer committing a row every few milliseconds for several seconds
  for _ in $(seq 1 1500); do
    printf 'INSERT INTO ticks DEFAULT VALUES;\nSELECT pg_sleep(0.003);\n'
  done >"$WORK/writer.sql"
  psql -X -q -d "$db" -f "$WORK/writer.sql" >/dev/null 2>&1 &
  writer_pid=$!
  sleep 0.5
  n0=$(q "$db" "SELECT count(*) FROM ticks")
  capture busy env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir"
  n1=$(q "$db" "SELECT count(*) FROM ticks")
  kill "$writer_pid" 2>/dev/null || true
  wait "$writer_pid" 2>/dev/null || true
  assert_rc 0 busy
  dump=$(only_dump "$dir")
  counted=$(sed -n 's/^table\t\([0-9]*\)\tpublic\.ticks$/\1/p' "$dump.manifest")
  ((n0 < counted && counted < n1)) || fail "writes did not overlap the backup ($n0 < $counted < $n1 expected)"
  # the dump holds exactly the rows the manifest counted: same snapshot
  capture busy_restore "$RS" --target "$target" "$dump"
  assert_rc 0 busy_restore
  [[ $(q "$target" "SELECT count(*) FROM ticks") == "$counted" ]] || fail "dump and manifest row counts differ"
}

# ---- the throwaway cluster: password authentication and PITR ------------------------------------
t_cluster_start() {
  [[ -x $PGBIN/pg_basebackup && -x $PGBIN/pg_verifybackup && -x $PGBIN/initdb ]] ||
    fail "PostgreSQL server binaries (initdb, pg_basebackup, pg_verifybackup) not found; set PF_PG_BINDIR"
  mkdir -p "$CDIR/archive"
  [[ $(id -u) == 0 ]] && chown -R postgres: "$CDIR"
  as_pg "$PGBIN/initdb" -D "$CDIR/data" -U postgres -A trust --no-sync >"$WORK/initdb.log" 2>&1 ||
    fail "initdb failed: $(tail -n 5 "$WORK/initdb.log")"
  cat >>"$CDIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $CPORT
unix_socket_directories = '$CDIR'
fsync = off
shared_buffers = 16MB
max_connections = 20
max_prepared_transactions = 5
wal_level = replica
max_wal_senders = 3
archive_mode = on
archive_command = 'test ! -f $CDIR/archive/%f && cp %p $CDIR/archive/%f'
EOF
  # over TCP every role needs a password; the unix socket (in CDIR) stays trusted for the test's own use
  cat >"$CDIR/data/pg_hba.conf" <<'EOF'
local all all trust
local replication all trust
host all all 127.0.0.1/32 scram-sha-256
EOF
  as_pg "$PGBIN/pg_ctl" -D "$CDIR/data" -l "$CDIR/server.log" -w -t 60 start >/dev/null ||
    fail "cluster did not start: $(tail -n 5 "$CDIR/server.log")"
}
cq() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$CDIR" -p "$CPORT" -U postgres -d "$1" -c "$2"; }

t_password_auth() {
  local pw="$SECRET:@/%?x" enc="$SECRET%3A%40%2F%25%3Fx" user=pf_pw_user dir=$WORK/pw dump tag
  cq postgres "CREATE ROLE $user LOGIN CREATEDB PASSWORD '$pw'"
  cq postgres "CREATE DATABASE pwdb OWNER $user"
  psql -X -q -h "$CDIR" -p "$CPORT" -U "$user" -d pwdb -c "CREATE TABLE t AS SELECT generate_series(1, 77) AS id"
  # right password, percent-encoded in the URL
  capture pw_ok env -u PGHOST -u PGPORT -u PGUSER DATABASE_URL="postgres://$user:$enc@127.0.0.1:$CPORT/pwdb?sslmode=disable" "$BK" --dir "$dir"
  assert_rc 0 pw_ok
  assert_no_secret "$WORK/pw_ok.out" "$WORK/pw_ok.err"
  dump=$(only_dump "$dir")
  capture pw_restore env -u PGHOST -u PGPORT -u PGUSER DATABASE_URL="postgres://$user:$enc@127.0.0.1:$CPORT/pwdb" "$RS" --target pwdb_restored "$dump"
  assert_rc 0 pw_restore
  assert_no_secret "$WORK/pw_restore.out" "$WORK/pw_restore.err"
  [[ $(cq pwdb_restored "SELECT count(*) FROM t") == 77 ]] || fail "restore with password auth incomplete"
  # PGPASSWORD from the environment works too, and is not printed
  capture pw_env env PGHOST=127.0.0.1 PGPORT="$CPORT" PGUSER="$user" PGDATABASE=pwdb PGPASSWORD="$pw" "$BK" --dir "$dir" --verify list
  assert_rc 0 pw_env
  assert_no_secret "$WORK/pw_env.out" "$WORK/pw_env.err"
  # no password at all: fails at once (never prompts), exit 4
  capture pw_none env DATABASE_URL="postgres://$user@127.0.0.1:$CPORT/pwdb" PGPASSFILE="$WORK/no-such-passfile" "$BK" --dir "$dir.none"
  assert_rc 4 pw_none
  assert_grep 'no password supplied' "$WORK/pw_none.err"
  # wrong password: clear error, exit 4, nothing written, secret not printed
  for tag in pw_wrong_backup pw_wrong_restore; do
    rm -rf "$dir.wrong"
    if [[ $tag == pw_wrong_backup ]]; then
      capture "$tag" env DATABASE_URL="postgres://$user:Wrong$SECRET@127.0.0.1:$CPORT/pwdb" "$BK" --dir "$dir.wrong"
      [[ -z $(files_besides_lock "$dir.wrong") ]] || fail "files left after a failed login"
    else
      capture "$tag" env DATABASE_URL="postgres://$user:Wrong$SECRET@127.0.0.1:$CPORT/pwdb" "$RS" --target pwdb_never "$dump"
      [[ $(cq postgres "SELECT count(*) FROM pg_database WHERE datname = 'pwdb_never'") == 0 ]] || fail "target created"
    fi
    assert_rc 4 "$tag"
    assert_grep "password authentication failed for user \"$user\"" "$WORK/$tag.err"
    assert_no_secret "$WORK/$tag.out" "$WORK/$tag.err"
  done
}

t_pitr() {
  local arch=$CDIR/archive base=$CDIR/base restored=$CDIR/restored t_target seg n rows
  cq postgres "CREATE DATABASE pitr"
  cq pitr "CREATE TABLE events (id int PRIMARY KEY, phase text NOT NULL)"
  cq pitr "INSERT INTO events SELECT g, 'before base backup' FROM generate_series(1, 3) g"
  # base backup (plain format, WAL streamed, with a backup manifest), then verify it
  as_pg "$PGBIN/pg_basebackup" -h "$CDIR" -p "$CPORT" -U postgres -D "$base" -Fp -Xstream -c fast >"$WORK/basebackup.log" 2>&1 ||
    fail "pg_basebackup failed: $(tail -n 5 "$WORK/basebackup.log")"
  [[ -f $base/backup_manifest ]] || fail "no backup_manifest"
  as_pg "$PGBIN/pg_verifybackup" "$base" >"$WORK/verifybackup.log" 2>&1 ||
    fail "pg_verifybackup failed: $(cat "$WORK/verifybackup.log")"
  grep -q 'successfully verified' "$WORK/verifybackup.log" || fail "pg_verifybackup: $(cat "$WORK/verifybackup.log")"

  cq pitr "INSERT INTO events SELECT g, 'after base backup, before target' FROM generate_series(4, 6) g"
  t_target=$(cq pitr "SELECT clock_timestamp()")
  sleep 0.3
  cq pitr "INSERT INTO events SELECT g, 'after target' FROM generate_series(7, 9) g"
  seg=$(cq pitr "SELECT pg_walfile_name(pg_switch_wal())")
  for _ in $(seq 1 300); do
    n=$(cq postgres "SELECT count(*) FROM pg_stat_archiver WHERE last_archived_wal >= '$seg'")
    [[ $n == 1 ]] && break
    sleep 0.1
  done
  [[ $n == 1 ]] || fail "WAL segment $seg was not archived"
  as_pg "$PGBIN/pg_ctl" -D "$CDIR/data" -m fast -w stop >/dev/null || fail "cannot stop the primary"

  # recovery: copy of the base backup + restore_command + recovery_target_time + recovery.signal
  as_pg cp -a "$base" "$restored"
  cat >>"$restored/postgresql.auto.conf" <<EOF
restore_command = 'cp $arch/%f %p'
recovery_target_time = '$t_target'
recovery_target_action = 'promote'
archive_mode = off
EOF
  as_pg touch "$restored/recovery.signal"
  local t0 t1
  t0=$(date +%s%N)
  as_pg "$PGBIN/pg_ctl" -D "$restored" -l "$CDIR/restored.log" -w -t 60 start >/dev/null ||
    fail "recovered cluster did not start: $(tail -n 20 "$CDIR/restored.log")"
  for _ in $(seq 1 300); do
    [[ $(cq postgres "SELECT pg_is_in_recovery()") == f ]] && break
    sleep 0.1
  done
  [[ $(cq postgres "SELECT pg_is_in_recovery()") == f ]] || fail "recovery did not finish"
  t1=$(date +%s%N)
  printf 'timing: PITR (base backup copy already in place, start + WAL replay to the target + promote) %d ms\n' $(((t1 - t0) / 1000000)) | tee -a "$WORK/timings.txt"
  rows=$(cq pitr "SELECT string_agg(id::text, ',' ORDER BY id) FROM events")
  [[ $rows == 1,2,3,4,5,6 ]] || fail "after recovery to $t_target expected rows 1..6, got $rows"
  grep -q 'recovery stopping before commit of transaction' "$CDIR/restored.log" ||
    fail "server log does not show recovery stopping at the target: $(grep -i recovery "$CDIR/restored.log")"
}

# ---- issue 13: crash safety, lock cycles, properties, retention scope, drills -------------------

# Wrappers placed first in PATH (PF_PG_BINDIR) that hold pg_dump / pg_restore
# at a gate: they create $GATE.started and wait (at most 60 s) for $GATE.go,
# then run the real tool. Without PF_TEST_GATE they are the real tools.
GATEBIN=$WORK/gatebin
make_gatebin() {
  local tool
  mkdir -p "$GATEBIN"
  for tool in pg_dump pg_restore; do
    cat >"$GATEBIN/$tool" <<GATE
#!/usr/bin/env bash
gate=\${PF_TEST_GATE:-}
if [[ -n \$gate && ( $tool == pg_dump || " \$* " == *" --dbname="* ) && \$* != *--version* ]]; then
  : >"\$gate.started"
  for _ in \$(seq 1 600); do [[ -e \$gate.go ]] && break; sleep 0.1; done
fi
exec "$PGBIN/$tool" "\$@"
GATE
    chmod +x "$GATEBIN/$tool"
  done
}
# wait_for FILE-or-COMMAND...: poll up to 30 s (0.05 s steps)
wait_file() {
  local i
  for ((i = 0; i < 600; i++)); do
    [[ -e $1 ]] && return 0
    sleep 0.05
  done
  return 1
}
wait_grep() { # wait_grep REGEX FILE [tenths of seconds, default 300]
  local i
  for ((i = 0; i < ${3:-300}; i++)); do
    grep -qE -- "$1" "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
# wait for a background pid at most N seconds; RC = its exit code, 124 on timeout (then killed)
wait_bounded() {
  local pid=$1 secs=$2 i
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    RC=124
    return 0
  fi
  RC=0
  wait "$pid" || RC=$?
}
# the staging database a running pf-restore logged
staging_of() { grep -oE 'pf_restore_[0-9]+_[0-9]+' "$1" | head -n 1; }

t_swap_sigterm() {
  local target=${PREFIX}swapterm dump pid app_pid i
  dump=$(fixture_copy "$WORK/swapterm")
  [[ -x $GATEBIN/pg_dump ]] || make_gatebin
  q postgres "CREATE DATABASE $target"
  sql "$target" <<<"CREATE TABLE precious (id int); INSERT INTO precious SELECT generate_series(1, 42);"
  # an application session on the target: the swap has to terminate it
  psql -X -q -d "$target" -c 'SELECT pg_sleep(60)' >/dev/null 2>&1 &
  app_pid=$!
  "$RS" --target "$target" --force "$dump" >"$WORK/swapterm.out" 2>"$WORK/swapterm.err" &
  pid=$!
  # SIGTERM as soon as the swap starts (the old tool's equivalent step: the drop)
  wait_grep 'swap:|dropping existing database' "$WORK/swapterm.err" 600 || fail "the restore never reached the swap: $(tail -n 5 "$WORK/swapterm.err")"
  kill -TERM "$pid" 2>/dev/null
  for i in 1 2 3; do sleep 0.02; kill -TERM "$pid" 2>/dev/null || true; done
  wait_bounded "$pid" 60
  kill "$app_pid" 2>/dev/null || true
  wait "$app_pid" 2>/dev/null || true
  db_exists "$target" || fail "SIGTERM during the swap left no database '$target' (exit $RC): $(tail -n 5 "$WORK/swapterm.err")"
  [[ $(q "$target" "SELECT count(*) FROM items") == 300 ]] || fail "'$target' does not hold the restored data"
  [[ $(q postgres "SELECT datallowconn FROM pg_database WHERE datname = '$target'") == t ]] || fail "'$target' does not accept connections"
  [[ $RC == 143 ]] || fail "exit code $RC, expected 143 (interrupted, after completing the swap)"
  assert_grep 'SIGTERM received during the swap: finishing the swap first' "$WORK/swapterm.err"
  assert_grep 'interrupted \(SIGTERM\) during the swap; the swap was completed' "$WORK/swapterm.err"
  assert_log_format "$WORK/swapterm.err"
  assert_no_staging

  # the same with SIGTERM to the whole process group, as timeout(1) sends it, at the worst
  # moment: each swap statement's client is still forking (PF_TEST_SPAWN_PAUSE holds it there)
  sql "$target" <<<"CREATE TABLE precious (id int); INSERT INTO precious SELECT generate_series(1, 42);"
  PF_TEST_SPAWN_PAUSE=0.3 setsid "$RS" --target "$target" --force "$dump" >"$WORK/swapterm2.out" 2>"$WORK/swapterm2.err" &
  pid=$!
  wait_grep 'swap:' "$WORK/swapterm2.err" 600 || fail "the restore never reached the swap: $(tail -n 5 "$WORK/swapterm2.err")"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in 1 2 3; do sleep 0.02; kill -TERM -- "-$pid" 2>/dev/null || true; done
  wait_bounded "$pid" 60
  db_exists "$target" || fail "SIGTERM to the process group during the swap left no database '$target' (exit $RC)"
  [[ $(q "$target" "SELECT count(*) FROM items") == 300 ]] || fail "'$target' does not hold the restored data after a group SIGTERM: $(tail -n 5 "$WORK/swapterm2.err")"
  [[ $(q "$target" "SELECT to_regclass('precious') IS NULL") == t ]] || fail "group SIGTERM: '$target' still holds the table of the previous database: the swap did not happen (exit $RC): $(tail -n 5 "$WORK/swapterm2.err")"
  [[ $RC == 143 ]] || fail "group SIGTERM: exit code $RC, expected 143: $(tail -n 5 "$WORK/swapterm2.err")"
  assert_grep 'the swap was completed' "$WORK/swapterm2.err"
  assert_no_staging

  # SIGTERM during pg_restore (before the swap): exit 143, target untouched, staging dropped
  q postgres "DROP DATABASE $target WITH (FORCE)"
  q postgres "CREATE DATABASE $target"
  sql "$target" <<<"CREATE TABLE precious (id int); INSERT INTO precious SELECT generate_series(1, 42);"
  PF_PG_BINDIR=$GATEBIN PF_TEST_GATE=$WORK/gate_term "$RS" --target "$target" --force "$dump" >"$WORK/earlyterm.out" 2>"$WORK/earlyterm.err" &
  pid=$!
  wait_file "$WORK/gate_term.started" || fail "pg_restore did not start"
  kill -TERM "$pid"
  wait_bounded "$pid" 30
  [[ $RC == 143 ]] || fail "early SIGTERM: exit $RC, expected 143"
  assert_grep 'interrupted \(SIGTERM\)' "$WORK/earlyterm.err"
  [[ $(q "$target" "SELECT count(*) FROM precious") == 42 ]] || fail "early SIGTERM changed '$target'"
  assert_no_staging
}

t_swap_session_on_staging() {
  local target=${PREFIX}swapbusy dump pid stg op_pid reader=${PREFIX}reader
  dump=$(fixture_copy "$WORK/swapbusy")
  [[ -x $GATEBIN/pg_dump ]] || make_gatebin
  q postgres "CREATE DATABASE $target"
  sql "$target" <<<"CREATE TABLE precious (id int); INSERT INTO precious SELECT generate_series(1, 42);"
  q postgres "CREATE ROLE $reader LOGIN"
  PF_PG_BINDIR=$GATEBIN PF_TEST_GATE=$WORK/gate_busy "$RS" --target "$target" --force "$dump" >"$WORK/swapbusy.out" 2>"$WORK/swapbusy.err" &
  pid=$!
  wait_file "$WORK/gate_busy.started" || fail "pg_restore did not start"
  stg=$(staging_of "$WORK/swapbusy.err")
  [[ -n $stg ]] || fail "no staging database in the log"
  # an unprivileged monitoring agent cannot connect to the staging database
  if psql -X -q -U "$reader" -d "$stg" -c 'SELECT 1' >/dev/null 2>"$WORK/reader.err"; then
    fail "a role without privileges could connect to the staging database"
  fi
  assert_grep 'permission denied for database' "$WORK/reader.err"
  # a curious operator (superuser) sits in the staging database during the swap
  psql -X -q -d "$stg" -c 'SELECT pg_sleep(60)' >/dev/null 2>&1 &
  op_pid=$!
  for _ in $(seq 1 100); do
    [[ $(q postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = '$stg' AND query LIKE '%pg_sleep%'") == 1 ]] && break
    sleep 0.05
  done
  : >"$WORK/gate_busy.go"
  wait_bounded "$pid" 60
  kill "$op_pid" 2>/dev/null || true
  wait "$op_pid" 2>/dev/null || true
  db_exists "$target" || fail "'$target' is gone after the swap (exit $RC)"
  assert_rc 0 swapbusy
  assert_grep "swap: terminated 1 session\\(s\\) connected to $stg" "$WORK/swapbusy.err"
  [[ $(q "$target" "SELECT count(*) FROM items") == 300 ]] || fail "'$target' does not hold the restored data"
  [[ $(q postgres "SELECT datallowconn FROM pg_database WHERE datname = '$target'") == t ]] || fail "'$target' does not accept connections"
  assert_no_staging
}

# A prepared transaction in the staging database cannot be terminated: the
# rename fails, and the transaction that renames both databases rolls back.
# (Throwaway cluster: max_prepared_transactions > 0.)
t_swap_rollback() {
  local dir=$WORK/swaprb dump pid stg
  [[ -x $GATEBIN/pg_dump ]] || make_gatebin
  cq postgres "CREATE DATABASE rbsrc"
  cq rbsrc "CREATE TABLE items AS SELECT generate_series(1, 50) AS id"
  cq postgres "CREATE DATABASE rbtarget"
  cq rbtarget "CREATE TABLE precious AS SELECT generate_series(1, 42) AS id"
  capture rb_backup env PGHOST="$CDIR" PGPORT="$CPORT" PGUSER=postgres PGDATABASE=rbsrc "$BK" --dir "$dir"
  assert_rc 0 rb_backup
  dump=$(only_dump "$dir")
  PGHOST=$CDIR PGPORT=$CPORT PF_PG_BINDIR=$GATEBIN PF_TEST_GATE=$WORK/gate_rb "$RS" --target rbtarget --force "$dump" >"$WORK/swaprb.out" 2>"$WORK/swaprb.err" &
  pid=$!
  wait_file "$WORK/gate_rb.started" || fail "pg_restore did not start"
  stg=$(staging_of "$WORK/swaprb.err")
  cq "$stg" "BEGIN; CREATE TABLE pf_test_blocker (x int); PREPARE TRANSACTION 'pf_test_blocker';" >/dev/null
  : >"$WORK/gate_rb.go"
  wait_bounded "$pid" 90
  tail -n 12 "$WORK/swaprb.err"
  assert_rc 12 swaprb
  assert_grep 'swap rolled back; .rbtarget. keeps its previous data' "$WORK/swaprb.err"
  [[ $(cq rbtarget "SELECT count(*) FROM precious") == 42 ]] || fail "the target lost its data in a failed swap"
  [[ $(cq postgres "SELECT datallowconn FROM pg_database WHERE datname = 'rbtarget'") == t ]] || fail "ALLOW_CONNECTIONS not restored on the target"
  [[ $(cq postgres "SELECT count(*) FROM pg_database WHERE datname LIKE 'pf\\_restore\\_%\\_old'") == 0 ]] || fail "an old copy exists after a rollback"
  # tidy up the blocker (the staging database refuses connections now)
  cq postgres "ALTER DATABASE $stg WITH ALLOW_CONNECTIONS true" >/dev/null
  cq "$stg" "ROLLBACK PREPARED 'pf_test_blocker'" >/dev/null
  cq postgres "DROP DATABASE IF EXISTS $stg WITH (FORCE)" >/dev/null
}

t_no_lock_cycle() {
  local db=${PREFIX}mig dir=$WORK/mig holder=pf_bk_holder_$$ mig=pf_bk_migration_$$ pid t0 t1 holder_pid mig_pid st
  [[ -x $GATEBIN/pg_dump ]] || make_gatebin
  q postgres "CREATE DATABASE $db"
  q "$db" "CREATE TABLE t AS SELECT generate_series(1, 1000) AS id"
  # (a) a migration holds ACCESS EXCLUSIVE: the backup gives up after --lock-wait-timeout, exit 9
  PGAPPNAME=$holder psql -X -q -d "$db" >/dev/null 2>&1 <<'SQL' &
BEGIN;
LOCK TABLE t IN ACCESS EXCLUSIVE MODE;
SELECT pg_sleep(30);
SQL
  holder_pid=$!
  for _ in $(seq 1 100); do
    [[ $(q postgres "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = '$holder' AND l.mode = 'AccessExclusiveLock' AND l.granted") -ge 1 ]] && break
    sleep 0.05
  done
  t0=$(date +%s)
  capture lockwait env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir" --lock-wait-timeout 1
  t1=$(date +%s)
  assert_rc 9 lockwait
  assert_grep 'error: counting rows: a table lock was not granted within 1s \(a migration or another session holds a conflicting lock\)' "$WORK/lockwait.err"
  ((t1 - t0 <= 10)) || fail "the waiting backup took $((t1 - t0))s to give up"
  [[ -z $(files_besides_lock "$dir") ]] || fail "files written by a backup that could not lock"
  # (b) pg_dump itself waiting for its LOCK TABLE: exit 9 as well
  q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$holder'" >/dev/null
  wait "$holder_pid" 2>/dev/null || true
  PF_PG_BINDIR=$GATEBIN PF_TEST_GATE=$WORK/gate_lw DATABASE_URL=$(url "$db") "$BK" --dir "$dir" --lock-wait-timeout 1 >"$WORK/lockwait2.out" 2>"$WORK/lockwait2.err" &
  pid=$!
  wait_file "$WORK/gate_lw.started" || fail "pg_dump did not start"
  PGAPPNAME=$holder psql -X -q -d "$db" >/dev/null 2>&1 <<'SQL' &
BEGIN;
LOCK TABLE t IN ACCESS EXCLUSIVE MODE;
SELECT pg_sleep(30);
SQL
  holder_pid=$!
  for _ in $(seq 1 100); do
    [[ $(q postgres "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = '$holder' AND l.mode = 'AccessExclusiveLock' AND l.granted") -ge 1 ]] && break
    sleep 0.05
  done
  : >"$WORK/gate_lw.go"
  wait_bounded "$pid" 30
  assert_rc 9 lockwait2
  assert_grep 'error: pg_dump: a table lock was not granted within 1s' "$WORK/lockwait2.err"
  q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$holder'" >/dev/null
  wait "$holder_pid" 2>/dev/null || true
  [[ -z $(files_besides_lock "$dir") ]] || fail "files written by a backup that could not lock"

  # (c) the lock cycle: the backup has counted and pg_dump is about to lock;
  # a migration (ALTER TABLE) arrives now. It must not queue behind a lock of
  # the backup, so the application's queries keep running.
  PF_PG_BINDIR=$GATEBIN PF_TEST_GATE=$WORK/gate_cycle DATABASE_URL=$(url "$db") "$BK" --dir "$dir" --lock-wait-timeout 20 >"$WORK/cycle.out" 2>"$WORK/cycle.err" &
  pid=$!
  wait_file "$WORK/gate_cycle.started" || fail "pg_dump did not start"
  PGAPPNAME=$mig psql -X -q -d "$db" -c "SET lock_timeout = '20s'" -c 'ALTER TABLE t ADD COLUMN note text' >"$WORK/migration.out" 2>&1 &
  mig_pid=$!
  for _ in $(seq 1 40); do
    kill -0 "$mig_pid" 2>/dev/null || break
    sleep 0.05
  done
  st=$(PGOPTIONS='-c statement_timeout=3000' psql -X -q -At -d "$db" -c 'SELECT count(*) FROM t' 2>&1) || true
  [[ $st == 1000 ]] || fail "an application query was blocked during backup + migration: $st"
  wait_bounded "$mig_pid" 25
  [[ $RC == 0 ]] || fail "the migration did not complete: $(cat "$WORK/migration.out")"
  : >"$WORK/gate_cycle.go"
  wait_bounded "$pid" 60
  [[ $RC != 124 ]] || fail "the backup hung"
  # the dump is consistent with its snapshot (ADD COLUMN does not rewrite the table)
  assert_rc 0 cycle
  assert_grep '^table	1000	public\.t$' "$(only_dump "$dir").manifest"
}

t_db_timeouts() {
  local db=${PREFIX}tmo dir=$WORK/tmo target=${PREFIX}tmo_r dump
  q postgres "CREATE DATABASE $db"
  q "$db" "CREATE TABLE t AS SELECT generate_series(1, 200000) AS id"
  q "$db" "CREATE TABLE u AS SELECT generate_series(1, 10) AS id"
  q postgres "ALTER DATABASE $db SET statement_timeout = '1ms'"
  q postgres "ALTER DATABASE $db SET idle_in_transaction_session_timeout = '10ms'"
  # plain pg_dump copes (it resets both in its session)
  pg_dump -Fc -d "$db" -f "$WORK/tmo_plain.dump" 2>"$WORK/tmo_plain.err" || fail "plain pg_dump failed: $(cat "$WORK/tmo_plain.err")"
  capture tmo env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir"
  assert_rc 0 tmo
  dump=$(only_dump "$dir")
  assert_grep '^table	200000	public\.t$' "$dump.manifest"
  capture tmo_restore "$RS" --target "$target" "$dump"
  assert_rc 0 tmo_restore
  [[ $(PGOPTIONS='-c statement_timeout=0' q "$target" "SELECT count(*) FROM t") == 200000 ]] || fail "restore incomplete"
}

t_db_properties() {
  local src=${PREFIX}props dst=${PREFIX}props_r dst2=${PREFIX}props_r2 dst3=${PREFIX}props_r3 dir=$WORK/props dump
  local owner=${PREFIX}dbowner owner2=${PREFIX}dbowner2 reader=${PREFIX}propreader
  q postgres "CREATE ROLE $owner"
  q postgres "CREATE ROLE $owner2"
  local grantor=${PREFIX}grantor
  q postgres "CREATE ROLE $reader LOGIN"
  q postgres "CREATE ROLE $grantor"
  q postgres "CREATE DATABASE $src OWNER $owner"
  sql postgres <<SQL
REVOKE CONNECT ON DATABASE $src FROM PUBLIC;
GRANT CONNECT ON DATABASE $src TO $reader;
GRANT CREATE ON DATABASE $src TO $grantor WITH GRANT OPTION;
SET ROLE $grantor;
GRANT CREATE ON DATABASE $src TO $reader;
RESET ROLE;
ALTER DATABASE $src SET search_path TO shop, public;
ALTER DATABASE $src SET work_mem = '7MB';
ALTER ROLE $reader IN DATABASE $src SET work_mem = '9MB';
COMMENT ON DATABASE $src IS 'the shop''s data
second line';
SQL
  q "$src" "CREATE TABLE t AS SELECT 1 AS id"
  q "$src" "CREATE INDEX t_id ON t (id)"
  capture props_backup env DATABASE_URL="$(url "$src")" "$BK" --dir "$dir"
  assert_rc 0 props_backup
  dump=$(only_dump "$dir")
  capture props_restore "$RS" --target "$dst" "$dump"
  assert_rc 0 props_restore
  [[ $(q postgres "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$dst'") == "$owner" ]] || fail "owner not restored"
  [[ $(q postgres "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = '$dst' AND a.grantee = 0 AND a.privilege_type = 'CONNECT'") == 0 ]] ||
    fail "PUBLIC can connect to the restored database (REVOKE CONNECT lost)"
  [[ $(q postgres "SELECT has_database_privilege('$reader', '$dst', 'CONNECT')") == t ]] || fail "GRANT CONNECT to $reader lost"
  [[ $(q postgres "SELECT pg_get_userbyid(a.grantor) FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = '$dst' AND a.grantee = '$reader'::regrole AND a.privilege_type = 'CREATE'") == "$grantor" ]] ||
    fail "a grant made by another role than the owner lost its grantor"
  [[ $(q postgres "SELECT array_to_string(setconfig, ';') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '$dst' AND s.setrole = 0") == 'search_path=shop, public;work_mem=7MB' ]] ||
    fail "ALTER DATABASE ... SET lost: $(q postgres "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '$dst'")"
  [[ $(q postgres "SELECT array_to_string(setconfig, ';') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '$dst' AND s.setrole = '$reader'::regrole") == 'work_mem=9MB' ]] ||
    fail "ALTER ROLE ... IN DATABASE ... SET lost"
  [[ $(q postgres "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$dst'") == "the shop's data"$'\n'"second line" ]] || fail "comment lost"
  [[ $(psql -X -q -At -U "$reader" -d "$dst" -c 'SHOW search_path') == 'shop, public' ]] || fail "search_path not in effect"
  # --db-owner maps the owner
  capture props_map "$RS" --target "$dst2" --db-owner "$owner2" "$dump"
  assert_rc 0 props_map
  [[ $(q postgres "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$dst2'") == "$owner2" ]] || fail "--db-owner not applied"
  [[ $(q postgres "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = '$dst2' AND a.grantee = 0 AND a.privilege_type = 'CONNECT'") == 0 ]] || fail "ACL lost with --db-owner"
  # --no-owner: owned by the restoring role; --force keeps the properties when replacing
  capture props_noowner "$RS" --target "$dst3" --no-owner "$dump"
  assert_rc 0 props_noowner
  [[ $(q postgres "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$dst3'") == "$PGUSER" ]] || fail "--no-owner: owner is not the restoring role"
  # a drill of a database whose search_path names a schema that does not exist
  capture props_drill "$HERE/../pf-drill" --dir "$dir" --database "$src"
  assert_rc 0 props_drill
  assert_grep 'amcheck ok: 1 indexes' "$WORK/props_drill.err"
  capture props_force "$RS" --target "$dst" --force "$dump"
  assert_rc 0 props_force
  [[ $(q postgres "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$dst'") == "$owner" ]] || fail "owner lost on --force"
  assert_no_staging
}

t_retention_scope() {
  local dir=$WORK/scope a=${PREFIX}app.b b=${PREFIX}app_b u=${PREFIX}ünï f la lb n
  q postgres "CREATE DATABASE \"$a\""
  q postgres "CREATE DATABASE $b"
  q "$a" "CREATE TABLE t AS SELECT 1 AS id"
  q "$b" "CREATE TABLE t AS SELECT 2 AS id"
  capture scope_a env DATABASE_URL="$(url "$a")" "$BK" --dir "$dir"
  assert_rc 0 scope_a
  # a backup of app.b under the label an older version gave it (app_b), with its manifest
  f=$dir/pf-backup_${b}_20200101T000000Z.dump
  printf 'x\n' >"$f"
  printf 'format\tpf-backup-manifest-1\ndatabase\t%s\n' "$a" >"$f.manifest"
  printf 'x\n' >"$f.sha256"
  touch -d '10 days ago' "$dir"/pf-backup_*
  capture scope_b env DATABASE_URL="$(url "$b")" "$BK" --dir "$dir"
  assert_rc 0 scope_b
  n=$(find "$dir" -maxdepth 1 -name 'pf-backup_*.dump' | wc -l)
  [[ $n == 3 ]] || fail "a backup run for $b deleted backups of $a: $(ls "$dir")"
  [[ -e $f && -e $f.manifest ]] || fail "the legacy-labelled backup of $a was deleted"
  # labels differ, and do not depend on the locale
  la=$(sed -n 's/^pf-backup: ok file=.*\/pf-backup_\(.*\)_[0-9]\{8\}T[0-9]\{6\}Z\.dump .*/\1/p' "$WORK/scope_a.out")
  lb=$(sed -n 's/^pf-backup: ok file=.*\/pf-backup_\(.*\)_[0-9]\{8\}T[0-9]\{6\}Z\.dump .*/\1/p' "$WORK/scope_b.out")
  [[ -n $la && $la != "$lb" ]] || fail "labels collide: '$la' '$lb'"
  q postgres "CREATE DATABASE \"$u\""
  capture scope_u1 env LANG=C.UTF-8 LC_ALL=C.UTF-8 DATABASE_URL="$(url "$u")" "$BK" --dir "$dir.u1"
  capture scope_u2 env LANG=C LC_ALL=C DATABASE_URL="$(url "$u")" "$BK" --dir "$dir.u2"
  assert_rc 0 scope_u2
  local l1 l2
  l1=$(find "$dir.u1" -name 'pf-backup_*.dump' -printf '%f\n' | sed 's/_[0-9]*T[0-9]*Z\.dump$//')
  l2=$(find "$dir.u2" -name 'pf-backup_*.dump' -printf '%f\n' | sed 's/_[0-9]*T[0-9]*Z\.dump$//')
  [[ -n $l1 && $l1 == "$l2" ]] ||
    fail "the label depends on the locale: $(ls "$dir.u1" "$dir.u2")"
}

t_drill_picks_exact_database() {
  local dir=$WORK/drillpick app=${PREFIX}app v2=${PREFIX}app_v2
  q postgres "CREATE DATABASE $app"
  q postgres "CREATE DATABASE $v2"
  q "$app" "CREATE TABLE app_only AS SELECT generate_series(1, 5) AS id"
  q "$v2" "CREATE TABLE v2_only AS SELECT generate_series(1, 7) AS id"
  capture dp_app env DATABASE_URL="$(url "$app")" "$BK" --dir "$dir"
  sleep 1
  capture dp_v2 env DATABASE_URL="$(url "$v2")" "$BK" --dir "$dir"
  assert_rc 0 dp_v2
  # the old drill command of docs/backup.md picks app_v2's backup for app
  local newest
  newest=$(printf '%s\n' "$dir/pf-backup_${app}"_*.dump | tail -n 1)
  [[ ${newest##*/} == pf-backup_${v2}_* ]] || fail "test setup: the glob does not show the problem"
  ! grep -q 'pf-backup_app_\*\.dump | tail' "$HERE/../../../docs/backup.md" || fail "docs/backup.md still has the drill command that picks app_v2"
  capture dp_drill "$HERE/../pf-drill" --dir "$dir" --database "$app"
  assert_rc 0 dp_drill
  assert_grep "^pf-drill: ok database=$app backup=pf-backup_${app}_[0-9]{8}T[0-9]{6}Z\\.dump " "$WORK/dp_drill.out"
  assert_grep 'restore ok in .* tables=1 rows=5 ' "$WORK/dp_drill.err"
  capture dp_none "$HERE/../pf-drill" --dir "$dir" --database "${PREFIX}nothing"
  assert_rc 16 dp_none
  assert_no_staging
}

t_kill_backup_leaves_nothing() {
  local db=${PREFIX}kill dir=$WORK/kill run=$WORK/run pid n i
  [[ -x $GATEBIN/pg_dump ]] || make_gatebin
  mkdir -p "$run"
  q postgres "CREATE DATABASE $db"
  q "$db" "CREATE TABLE t AS SELECT generate_series(1, 100) AS id"
  PF_RUNTIME_DIR=$run PF_PG_BINDIR=$GATEBIN PF_TEST_GATE=$WORK/gate_kill PGAPPNAME=pf_bk_kill_$$ \
    DATABASE_URL="postgres://$PGUSER:$SECRET@$PGHOST:$PGPORT/$db" "$BK" --dir "$dir" >"$WORK/kill.out" 2>"$WORK/kill.err" &
  pid=$!
  wait_file "$WORK/gate_kill.started" || fail "pg_dump did not start"
  [[ -z $(find "$run" -name 'pgpass*') ]] || fail "a password file exists on disk while the backup runs"
  ! grep -rqF -- "$SECRET" "$run" 2>/dev/null || fail "the password is in a file under the runtime directory"
  [[ $(q postgres "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pf_bk_kill_$$' AND state = 'idle in transaction'") -ge 1 ]] ||
    fail "test setup: no snapshot session"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    n=$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pf_bk_kill_$$'")
    [[ $n == 0 ]] && break
    sleep 0.1
  done
  [[ $n == 0 ]] || fail "sessions of the killed backup still open: $(q postgres "SELECT state, query FROM pg_stat_activity WHERE application_name = 'pf_bk_kill_$$'")"
  # shellcheck disable=SC2009
  ! ps -eo args | grep -F -- "$WORK/gate_kill" | grep -v grep || fail "children of the killed backup still run"
  for ((i = 0; i < 50; i++)); do
    pgrep -f -- "pf-watchdog [0-9]+ $pid " >/dev/null || break
    sleep 0.1
  done
  ! pgrep -af -- "pf-watchdog [0-9]+ $pid " || fail "the watchdog of the killed backup still runs"
  flock -n "$dir/.pf-backup.lock" true || fail "the directory lock is still held after the backup was killed"
  [[ -z $(find "$run" -name 'pgpass*') ]] || fail "a password file outlived the backup"
  for ((i = 0; i < 50; i++)); do
    [[ -z $(find /proc/[0-9]*/fd -lname "$run/*" 2>/dev/null) ]] && break
    sleep 0.1
  done
  [[ -z $(find /proc/[0-9]*/fd -lname "$run/*" 2>/dev/null) ]] ||
    fail "a process still holds a file of the killed run (the deleted password file?): $(find /proc/[0-9]*/fd -lname "$run/*" -printf '%p -> %l\n' 2>/dev/null)"
  # the next run removes the stale temporary directory and works
  capture kill_next env PF_RUNTIME_DIR="$run" DATABASE_URL="$(url "$db")" "$BK" --dir "$dir" --lock-timeout 0
  assert_rc 0 kill_next
  assert_grep 'removed stale temporary directory' "$WORK/kill_next.err"
  [[ -z $(find "$run" -mindepth 1) ]] || fail "temporary directories left: $(ls -A "$run")"
  [[ -z $(find "$dir" -name '.*.tmp.*' -newer "$WORK/kill.err") ]] || true
}

t_timeout() {
  local db=${PREFIX}tmout dir=$WORK/tmout pid t0 t1
  [[ -x $GATEBIN/pg_dump ]] || make_gatebin
  q postgres "CREATE DATABASE $db"
  t0=$(date +%s)
  PF_PG_BINDIR=$GATEBIN PF_TEST_GATE=$WORK/gate_tmout DATABASE_URL=$(url "$db") "$BK" --dir "$dir" --timeout 2 >"$WORK/tmout.out" 2>"$WORK/tmout.err" &
  pid=$!
  wait_bounded "$pid" 30
  t1=$(date +%s)
  assert_rc 14 tmout
  assert_grep 'error: the overall --timeout of 2s expired' "$WORK/tmout.err"
  ((t1 - t0 <= 10)) || fail "--timeout 2 took $((t1 - t0))s"
  [[ -z $(files_besides_lock "$dir") ]] || fail "files left after the timeout"
  # shellcheck disable=SC2009
  ! ps -eo args | grep -F -- "$WORK/gate_tmout" | grep -v grep || fail "children still run after the timeout"
}

t_odd_names() {
  local nl=${PREFIX}nl$'\n'x tab=${PREFIX}tab$'\t'x dir=$WORK/odd dump
  psql -X -q -d postgres -v n="$nl" <<<'CREATE DATABASE :"n";'
  psql -X -q -d postgres -v n="$tab" <<<'CREATE DATABASE :"n";'
  PGDATABASE=$nl q "$nl" "CREATE TABLE t AS SELECT generate_series(1, 3) AS id"
  q "$tab" "CREATE TABLE t AS SELECT generate_series(1, 4) AS id"
  capture odd_nl env PGDATABASE="$nl" "$BK" --dir "$dir/nl"
  assert_rc 0 odd_nl
  capture odd_tab env PGDATABASE="$tab" "$BK" --dir "$dir/tab"
  assert_rc 0 odd_tab
  assert_log_format "$WORK/odd_nl.err"
  dump=$(only_dump "$dir/nl")
  capture odd_nl_r "$RS" --target "${PREFIX}nl_r" "$dump"
  assert_rc 0 odd_nl_r
  [[ $(q "${PREFIX}nl_r" "SELECT count(*) FROM t") == 3 ]] || fail "newline database not restored"
  # disaster recovery under the original (odd) name: no --force needed when it does not exist
  psql -X -q -d postgres -v n="$tab" <<<'DROP DATABASE :"n";'
  dump=$(only_dump "$dir/tab")
  capture odd_tab_dr "$RS" --target "$tab" "$dump"
  assert_rc 0 odd_tab_dr
  assert_grep 'disaster recovery' "$WORK/odd_tab_dr.err"
  [[ $(q "$tab" "SELECT count(*) FROM t") == 4 ]] || fail "tab database not restored under its name"
  # while it exists, the source database is still protected
  capture odd_tab_again "$RS" --target "$tab" "$dump"
  assert_rc 11 odd_tab_again
}

t_url_parameters() {
  local dir=$WORK/urlp
  capture urlp env DATABASE_URL="$(url "$FIXDB")?keepalives=1&keepalives_idle=30&tcp_user_timeout=10000&application_name=pf_url_test&connect_timeout=5" "$BK" --dir "$dir"
  assert_rc 0 urlp
  capture urlp_bad env DATABASE_URL="$(url "$FIXDB")?no_such_param=1" "$BK" --dir "$dir"
  assert_rc 3 urlp_bad
  assert_grep "unknown parameter 'no_such_param'" "$WORK/urlp_bad.err"
}

FULLMNT=
t_disk_full_manifest() {
  local db=${PREFIX}full dir size pages
  q postgres "CREATE DATABASE $db"
  # many tables with long names: a big manifest next to a small dump
  q "$db" "SELECT 1" >/dev/null
  for i in $(seq 1 120); do printf 'CREATE TABLE table_with_a_long_name_for_the_manifest_%03d (id int);\n' "$i"; done | sql "$db"
  capture full_probe env DATABASE_URL="$(url "$db")" "$BK" --dir "$WORK/full_probe"
  assert_rc 0 full_probe
  size=$(stat -c %s "$(only_dump "$WORK/full_probe")")
  pages=$(((size + 4095) / 4096))
  FULLMNT=$WORK/fullfs
  mkdir -p "$FULLMNT"
  if ! mount -t tmpfs -o size=$(((pages + 1) * 4096)),mode=0700 tmpfs "$FULLMNT" 2>"$WORK/mount.err"; then
    fail "cannot mount a small tmpfs (needs root): $(cat "$WORK/mount.err")"
  fi
  # leave room for the dump, not for the manifest
  dd if=/dev/zero of="$FULLMNT/filler" bs=4096 count=1 status=none 2>/dev/null || true
  dir=$FULLMNT/b
  capture full env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir"
  umount "$FULLMNT"
  assert_rc 15 full
  assert_grep 'error: cannot write the (manifest|checksum file) into .*No space left on device' "$WORK/full.err"
  assert_log_format "$WORK/full.err"
}

t_metrics() {
  local dir=$WORK/metrics m=$WORK/metrics/textfile/pf.prom other=${PREFIX}app.b
  mkdir -p "$WORK/metrics/textfile"
  printf '# HELP other_metric x\n# TYPE other_metric gauge\nother_metric 1\n' >"$m"
  capture m_backup env DATABASE_URL="$(url "$FIXDB")" "$BK" --dir "$dir" --metrics-file "$m"
  assert_rc 0 m_backup
  assert_grep "^pf_backup_last_success_timestamp_seconds\\{database=\"$FIXDB\"\\} [0-9]{10}\$" "$m"
  assert_grep "^pf_backup_duration_seconds\\{database=\"$FIXDB\"\\} [0-9]+\\.[0-9]{3}\$" "$m"
  assert_grep "^pf_backup_size_bytes\\{database=\"$FIXDB\"\\} [1-9][0-9]*\$" "$m"
  assert_grep '^# TYPE pf_backup_size_bytes gauge$' "$m"
  assert_grep '^other_metric 1$' "$m"
  capture m_drill "$HERE/../pf-drill" --dir "$dir" --database "$FIXDB" --metrics-file "$m"
  assert_rc 0 m_drill
  assert_grep "^pf_backup_drill_last_success_timestamp_seconds\\{database=\"$FIXDB\"\\} [0-9]{10}\$" "$m"
  assert_grep "^pf_backup_drill_restore_duration_seconds\\{database=\"$FIXDB\"\\} [0-9]+\\.[0-9]{3}\$" "$m"
  assert_grep 'amcheck ok: [1-9][0-9]* indexes' "$WORK/m_drill.err"
  assert_grep "^pf_backup_last_success_timestamp_seconds\\{database=\"$FIXDB\"\\}" "$m"
  # a failed backup records the failure and keeps the last success
  capture m_fail env DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/${PREFIX}no_such_db" "$BK" --dir "$dir" --metrics-file "$m"
  assert_rc 4 m_fail
  assert_grep "^pf_backup_last_exit_code\\{database=\"${PREFIX}no_such_db\"\\} 4\$" "$m"
  assert_grep "^pf_backup_last_success_timestamp_seconds\\{database=\"$FIXDB\"\\}" "$m"
  # label values are escaped
  q postgres "CREATE DATABASE \"$other\"" 2>/dev/null || true
  [[ -z $(find "$WORK/metrics/textfile" -name '.*tmp*') ]] || fail "temporary metrics file left"
  # a corrupt backup fails the drill (exit 10), records it, leaves no scratch database
  local d
  d=$(only_dump "$dir")
  printf 'CORRUPT' | dd of="$d" bs=1 seek=100 conv=notrunc status=none
  capture m_drill_bad "$HERE/../pf-drill" --dir "$dir" --database "$FIXDB" --metrics-file "$m"
  assert_rc 10 m_drill_bad
  assert_grep "^pf_backup_drill_last_exit_code\\{database=\"$FIXDB\"\\} 10\$" "$m"
  assert_no_staging
}

# Backup / restore / drill times against plain pg_dump -Fc / pg_restore on
# the same database. Printed as "timing:" lines and kept for the summary.
t_timings() {
  local db=${PREFIX}timing dir=$WORK/timing plain=${PREFIX}timing_plain r=${PREFIX}timing_r t0 t1 pd pr bk rs dr
  q postgres "CREATE DATABASE $db"
  sql "$db" <<'SQL'
CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, total numeric(12,2), note text);
INSERT INTO orders SELECT g, g % 5000, (g % 10000) / 100.0, 'order ' || g FROM generate_series(1, 300000) g;
CREATE INDEX orders_customer ON orders (customer);
CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz, payload jsonb);
INSERT INTO events SELECT g, '2024-01-01'::timestamptz + g * interval '1 s', jsonb_build_object('k', g) FROM generate_series(1, 100000) g;
VACUUM ANALYZE;
SQL
  ms() { echo $((($2 - $1) / 1000000)); }
  t0=$(date +%s%N); pg_dump -Fc -d "$db" -f "$WORK/timing_plain.dump"; t1=$(date +%s%N); pd=$(ms "$t0" "$t1")
  t0=$(date +%s%N); capture tm_bk env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir"; t1=$(date +%s%N); bk=$(ms "$t0" "$t1")
  assert_rc 0 tm_bk
  t0=$(date +%s%N); q postgres "CREATE DATABASE $plain"; pg_restore -d "$plain" "$WORK/timing_plain.dump"; t1=$(date +%s%N); pr=$(ms "$t0" "$t1")
  t0=$(date +%s%N); capture tm_rs "$RS" --target "$r" "$(only_dump "$dir")"; t1=$(date +%s%N); rs=$(ms "$t0" "$t1")
  assert_rc 0 tm_rs
  t0=$(date +%s%N); capture tm_dr "$HERE/../pf-drill" --dir "$dir" --database "$db"; t1=$(date +%s%N); dr=$(ms "$t0" "$t1")
  assert_rc 0 tm_dr
  printf 'timing: 400000 rows (%s dump): pg_dump -Fc %d ms, pf-backup %d ms; pg_restore %d ms, pf-restore %d ms; pf-drill (restore + amcheck + drop) %d ms\n' \
    "$(human_size "$(stat -c %s "$WORK/timing_plain.dump")")" "$pd" "$bk" "$pr" "$rs" "$dr" | tee -a "$WORK/timings.txt"
}
human_size() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }

# Issue 14 item 7: another restore's staging database on the same server is
# neither counted as ours nor dropped.
t_foreign_staging_untouched() {
  local foreign target=${PREFIX}fg dump
  foreign=pf_restore_${$}0_$(date +%s)
  printf '%s\n' "$foreign" >>"$WORK/created.dbs" # dropped by cleanup if this test fails half-way
  q postgres "CREATE DATABASE $foreign"
  dump=$(fixture_copy "$WORK/fg")
  capture fg "$RS" --target "$target" "$dump"
  assert_rc 0 fg
  assert_no_staging
  ! our_tool_dbs | grep -qxF "$foreign" || fail "a foreign staging database counts as ours"
  db_exists "$foreign" || fail "a foreign staging database was dropped"
  q postgres "DROP DATABASE $foreign"
}

# ---- issue 22: defects D1-D8 --------------------------------------------------------------------

# D1: a subshell forked by a tool may run the tool's EXIT trap when a signal
# reaches it right after the fork (bash does this). PF_TEST_CHILD_RUNS_TRAPS
# makes every spawned child do exactly that: the tools must still complete,
# and their cleanup (drop staging, delete the temporary directory) must run
# in the main process only.
t_d1_child_traps() {
  local target=${PREFIX}d1 dump dir=$WORK/d1
  dump=$(fixture_copy "$WORK/d1src")
  q postgres "CREATE DATABASE $target"
  sql "$target" <<<"CREATE TABLE precious (id int); INSERT INTO precious SELECT generate_series(1, 42);"
  capture d1_restore env PF_TEST_CHILD_RUNS_TRAPS=1 "$RS" --target "$target" --force "$dump"
  assert_rc 0 d1_restore
  [[ $(q "$target" "SELECT count(*) FROM items") == 300 ]] || fail "'$target' does not hold the restored data"
  [[ $(q "$target" "SELECT to_regclass('precious') IS NULL") == t ]] || fail "'$target' still holds the previous data"
  ! grep -qE 'rolled back|interrupted|dropping staging' "$WORK/d1_restore.err" || fail "a child ran the tool's cleanup: $(grep -E 'rolled back|interrupted|dropping staging' "$WORK/d1_restore.err")"
  assert_no_staging
  capture d1_backup env PF_TEST_CHILD_RUNS_TRAPS=1 DATABASE_URL="$(url "$FIXDB")" "$BK" --dir "$dir"
  assert_rc 0 d1_backup
  only_dump "$dir" >/dev/null
  ! grep -qE 'interrupted|removed stale' "$WORK/d1_backup.err" || fail "a child ran pf-backup's cleanup"
}

# D2: a database whose name contains a backslash restores (awk must not
# interpret escapes in the name)
t_d2_backslash_name() {
  local db=${PREFIX}back\\t\\slash dir=$WORK/d2 dump
  psql -X -q -d postgres -v n="$db" <<<'CREATE DATABASE :"n";'
  printf '%s\n' "$db" >>"$WORK/created.dbs"
  psql -X -q -d postgres -v n="$db" <<<"COMMENT ON DATABASE :\"n\" IS 'a comment';"
  PGDATABASE=$db q "$db" "CREATE TABLE t AS SELECT generate_series(1, 6) AS id"
  capture d2_backup env PGDATABASE="$db" "$BK" --dir "$dir"
  assert_rc 0 d2_backup
  dump=$(only_dump "$dir")
  # restored under its own name (disaster recovery), comment included
  psql -X -q -d postgres -v n="$db" <<<'DROP DATABASE :"n";'
  capture d2_dr "$RS" --target "$db" "$dump"
  assert_rc 0 d2_dr
  [[ $(PGDATABASE=$db q "$db" "SELECT count(*) FROM t") == 6 ]] || fail "backslash database not restored under its name"
  [[ $(psql -X -q -At -d postgres -v n="$db" <<<"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :'n';") == 'a comment' ]] ||
    fail "the database comment was not restored"
}

# D7: numeric options are range-checked (a huge value must not wrap around)
t_d7_numeric_ranges() {
  local dir=$WORK/d7 opt
  mkdir -p "$dir"
  printf 'x\n' >"$dir/keep"
  for opt in "--retention-days 12810238940076078" "--retention-days 36501" "--retention-days 99999999999999999999" \
    "--lock-timeout 9223372036854775808" "--lock-wait-timeout 2147484" "--timeout 99999999999"; do
    # shellcheck disable=SC2086 # option and value
    capture d7_bk env DATABASE_URL="$(url "$FIXDB")" "$BK" --dir "$dir" $opt
    assert_rc 2 d7_bk
    assert_grep "error: ${opt%% *} must be" "$WORK/d7_bk.err"
  done
  [[ $(find "$dir" -mindepth 1 | wc -l) == 1 ]] || fail "a rejected run wrote or deleted files: $(ls -A "$dir")"
  for opt in "--jobs 4294967297" "--jobs 1025" "--lock-wait-timeout 99999999999999" "--timeout 18446744073709551617"; do
    # shellcheck disable=SC2086
    capture d7_rs "$RS" --target "${PREFIX}d7" $opt "$dir/keep"
    assert_rc 2 d7_rs
    assert_grep "error: ${opt%% *} must be" "$WORK/d7_rs.err"
    # shellcheck disable=SC2086
    capture d7_dr "$HERE/../pf-drill" --dir "$dir" --database x $opt
    if [[ $opt != --lock-wait-timeout* ]]; then
      assert_rc 2 d7_dr
      assert_grep "error: ${opt%% *} must be" "$WORK/d7_dr.err"
    fi
  done
  # leading zeros are still decimal, and in range
  capture d7_ok env DATABASE_URL="$(url "$FIXDB")" "$BK" --dir "$dir" --retention-days 0008 --dry-run
  assert_rc 0 d7_ok
  assert_grep 'retention: 0 file\(s\) older than 8 day\(s\)' "$WORK/d7_ok.err"
}

# D8: a backup's "taken" time (manifest created_at) is the snapshot's time,
# not the end of the dump: pg_dump is held at a gate until the clock has
# passed two more seconds, and created_at must not be later than the moment
# pg_dump started.
t_d8_taken_is_snapshot_time() {
  local dir=$WORK/d8 pid s0 taken
  [[ -x $GATEBIN/pg_dump ]] || make_gatebin
  PF_PG_BINDIR=$GATEBIN PF_TEST_GATE=$WORK/gate_d8 DATABASE_URL=$(url "$FIXDB") "$BK" --dir "$dir" >"$WORK/d8.out" 2>"$WORK/d8.err" &
  pid=$!
  wait_file "$WORK/gate_d8.started" || fail "pg_dump did not start"
  s0=$(date +%s)
  while (($(date +%s) <= s0 + 1)); do sleep 0.1; done
  : >"$WORK/gate_d8.go"
  wait_bounded "$pid" 60
  assert_rc 0 d8
  taken=$(sed -n 's/^created_at\t//p' "$(only_dump "$dir").manifest")
  [[ -n $taken ]] || fail "no created_at in the manifest"
  (($(date -u -d "$taken" +%s) <= s0)) || fail "created_at $taken is after pg_dump started ($(date -u -d "@$s0" +%FT%TZ)): not the snapshot time"
}

# D6: --metrics-file keeps every other tool's line of the textfile byte for
# byte (counter, histogram, comments), and the result passes promtool
t_d6_metrics_keep_others() {
  local dir=$WORK/d6 m=$WORK/d6.prom
  command -v promtool >/dev/null || fail "promtool not installed (Debian: prometheus)"
  cat >"$m" <<'PROM'
# HELP node_other_requests_total Requests handled by another tool.
# TYPE node_other_requests_total counter
node_other_requests_total{code="200"} 1027
node_other_requests_total{code="500"} 3
# HELP node_other_latency_seconds Latency of another tool.
# TYPE node_other_latency_seconds histogram
node_other_latency_seconds_bucket{le="0.1"} 5
node_other_latency_seconds_bucket{le="+Inf"} 7
node_other_latency_seconds_sum 1.25
node_other_latency_seconds_count 7
# HELP node_other_info Build of another tool, with \\ and "quotes".
# TYPE node_other_info gauge
node_other_info{version="1.2.3",note="a \\ b \"c\""} 1
PROM
  grep -v '^pf_backup' "$m" >"$WORK/d6.before"
  capture d6_backup env DATABASE_URL="$(url "$FIXDB")" "$BK" --dir "$dir" --metrics-file "$m"
  assert_rc 0 d6_backup
  capture d6_drill "$HERE/../pf-drill" --dir "$dir" --database "$FIXDB" --metrics-file "$m" --no-amcheck
  assert_rc 0 d6_drill
  grep -vE '^(pf_backup|# (HELP|TYPE) pf_backup)' "$m" >"$WORK/d6.after"
  cmp -s "$WORK/d6.before" "$WORK/d6.after" || fail "other tools' lines changed: $(diff "$WORK/d6.before" "$WORK/d6.after")"
  assert_grep "^pf_backup_last_success_timestamp_seconds\\{database=\"$FIXDB\"\\} [0-9]{10}\$" "$m"
  assert_grep "^pf_backup_drill_last_success_timestamp_seconds\\{database=\"$FIXDB\"\\} [0-9]{10}\$" "$m"
  promtool check metrics <"$m" >"$WORK/d6.promtool" 2>&1 || fail "promtool check metrics: $(cat "$WORK/d6.promtool")"
  [[ ! -s $WORK/d6.promtool ]] || fail "promtool check metrics reports: $(cat "$WORK/d6.promtool")"
}

# D4: no child process of the tools ever carries the password in its
# environment, from the first one on (wrappers first in PATH record the
# environment of every child they stand for; pf-drill sets up its
# connection the same way)
t_d4_no_password_in_children() {
  local wrap=$WORK/d4bin log=$WORK/d4.env tool real dir=$WORK/d4 dump
  mkdir -p "$wrap"
  for tool in mktemp sha256sum pg_restore pg_dump psql dirname readlink date setpriv setsid flock rm mkfifo chmod stat sync mv numfmt sort grep cat sleep; do
    real=$(command -v "$tool") || continue
    printf '#!/bin/sh\nenv >>%q\nexec %q "$@"\n' "$log" "$real" >"$wrap/$tool"
    chmod +x "$wrap/$tool"
  done
  capture d4_backup env PATH="$wrap:$PATH" DATABASE_URL="postgres://$PGUSER:$SECRET@$PGHOST:$PGPORT/$FIXDB" "$BK" --dir "$dir"
  assert_rc 0 d4_backup
  dump=$(only_dump "$dir")
  capture d4_restore_pw env PATH="$wrap:$PATH" PGPASSWORD="$SECRET" "$RS" --target "${PREFIX}d4" "$dump"
  assert_rc 0 d4_restore_pw
  [[ -s $log ]] || fail "test setup: no child environment recorded"
  assert_no_secret "$log"
}

# D3: two servers, each with a database of the same name, backing up into
# one directory: one server's retention never deletes the other's backups,
# and the drill does not mix them up. (Shared server = A, throwaway cluster = B.)
t_d3_two_servers() {
  local db=${PREFIX}d3 dir=$WORK/d3 a_dump sys_a sys_b
  q postgres "CREATE DATABASE $db"
  q "$db" "CREATE TABLE t AS SELECT generate_series(1, 3) AS id"
  cq postgres "CREATE DATABASE $db"
  cq "$db" "CREATE TABLE t AS SELECT generate_series(1, 5) AS id"
  sys_a=$(q postgres "SELECT system_identifier FROM pg_control_system()")
  sys_b=$(cq postgres "SELECT system_identifier FROM pg_control_system()")
  [[ $sys_a != "$sys_b" ]] || fail "test setup: both servers have system identifier $sys_a"
  capture d3_a env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir"
  assert_rc 0 d3_a
  a_dump=$(only_dump "$dir")
  assert_grep "^system_identifier	$sys_a\$" "$a_dump.manifest"
  assert_grep "^server_address	$PGHOST:$PGPORT\$" "$a_dump.manifest"
  touch -d '10 days ago' "$a_dump" "$a_dump.manifest" "$a_dump.sha256"
  sleep 1
  capture d3_b env PGHOST="$CDIR" PGPORT="$CPORT" PGUSER=postgres PGDATABASE="$db" "$BK" --dir "$dir"
  assert_rc 0 d3_b
  [[ -e $a_dump && -e $a_dump.manifest && -e $a_dump.sha256 ]] || fail "server B's retention deleted server A's only backup"
  assert_grep "retention: kept ${a_dump##*/}: .*another server" "$WORK/d3_b.err"
  # the drill asks which server when the directory holds both
  capture d3_drill "$HERE/../pf-drill" --dir "$dir" --database "$db" --no-amcheck
  assert_rc 2 d3_drill
  assert_grep "backups of '$db' from 2 servers" "$WORK/d3_drill.err"
  assert_grep "$sys_a" "$WORK/d3_drill.err"
  capture d3_drill_a "$HERE/../pf-drill" --dir "$dir" --database "$db" --server "$sys_a" --no-amcheck
  assert_rc 0 d3_drill_a
  assert_grep "backup=${a_dump##*/} " "$WORK/d3_drill_a.out"
  assert_grep 'tables=1 rows=3 ' "$WORK/d3_drill_a.err"
  capture d3_drill_b "$HERE/../pf-drill" --dir "$dir" --database "$db" --server "$CDIR:$CPORT" --no-amcheck
  assert_rc 0 d3_drill_b
  assert_grep 'tables=1 rows=5 ' "$WORK/d3_drill_b.err"
  # server A's own retention still deletes its old backup
  capture d3_a2 env DATABASE_URL="$(url "$db")" "$BK" --dir "$dir"
  assert_rc 0 d3_a2
  [[ ! -e $a_dump ]] || fail "server A's retention kept its own 10-day-old backup"
  [[ $(find "$dir" -name 'pf-backup_*.dump' | wc -l) == 2 ]] || fail "expected A's new and B's backup: $(ls "$dir")"
}

# D5: kill -9 of pf-restore during pg_restore leaves its staging database;
# the next pf-restore drops it (its owner is gone) and says so. A staging
# database of a pf-restore on another host, or one without the tool's marker,
# is left alone.
t_d5_stale_staging() {
  local dump pid stg other=pf_restore_1_1000000000 target=${PREFIX}d5
  dump=$(fixture_copy "$WORK/d5")
  [[ -x $GATEBIN/pg_dump ]] || make_gatebin
  PF_PG_BINDIR=$GATEBIN PF_TEST_GATE=$WORK/gate_d5 "$RS" --target "$target" "$dump" >"$WORK/d5_killed.out" 2>"$WORK/d5_killed.err" &
  pid=$!
  wait_file "$WORK/gate_d5.started" || fail "pg_restore did not start"
  stg=$(staging_of "$WORK/d5_killed.err")
  [[ -n $stg ]] || fail "no staging database in the log"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  : >"$WORK/gate_d5.go"
  db_exists "$stg" || fail "test setup: the staging database is already gone"
  # a staging database of a pf-restore running on another host
  printf '%s\n' "$other" >>"$WORK/created.dbs"
  q postgres "CREATE DATABASE $other"
  q postgres "COMMENT ON DATABASE $other IS 'pf-restore staging database: host=pf-test-other-host boot=x pid=1'"
  capture d5_next "$RS" --target "$target" "$dump"
  assert_rc 0 d5_next
  assert_grep "dropped stale staging database $stg \\(pf-restore pid [0-9]+ on this host is gone\\)" "$WORK/d5_next.err"
  ! db_exists "$stg" || fail "the stale staging database $stg is still there"
  db_exists "$other" || fail "the staging database of another host was dropped"
  [[ -z $(q postgres "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$target'") ]] ||
    fail "the restored database carries the staging marker"
  q postgres "DROP DATABASE $other"
  assert_no_staging
}

# ---- issue 22: pgBackRest ---------------------------------------------------------------------------
# A throwaway cluster of its own (initdb, free port, unix socket in its
# directory), a repository, spool and logs below $WORK/pgbr, all owned by
# postgres: pgBackRest and pg_ctl run as the cluster's OS user.
PGBR=$HERE/../pf-pgbackrest
PB=$WORK/pgbr
PB_STANZA=pftest
PB_CONF=$PB/pgbackrest.conf
pb_port() { cat "$WORK/pbport"; }
# $PGBR_AS COMMAND ARGS...: pf-pgbackrest as postgres, with this test's stanza and config
PGBR_AS=$WORK/pgbr-as
make_pgbr_as() {
  # shellcheck disable=SC2016 # expanded by the wrapper
  printf '#!/bin/sh\ncmd=$1\nshift\nexec runuser -u postgres -- env PATH=%q %q "$cmd" --stanza %q --config %q "$@"\n' \
    "$PGBIN:$PATH" "$PGBR" "$PB_STANZA" "$PB_CONF" >"$PGBR_AS"
  chmod 755 "$PGBR_AS"
}
pq() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$PB" -p "$(pb_port)" -U postgres -d "$1" -c "$2"; }
# start_copy DIR PORT: start a restored data directory on its own port and socket, wait for promotion
start_copy() {
  printf "port = %s\nunix_socket_directories = '%s'\nlisten_addresses = ''\n" "$2" "$PB" >>"$1/postgresql.auto.conf"
  as_pg "$PGBIN/pg_ctl" -D "$1" -l "$1.log" -w -t 60 start >/dev/null || fail "restored copy did not start: $(tail -n 20 "$1.log")"
  for _ in $(seq 1 300); do
    [[ $(psql -X -At -h "$PB" -p "$2" -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null) == f ]] && return 0
    sleep 0.1
  done
  fail "restored copy did not finish recovery: $(tail -n 20 "$1.log")"
}
stop_copy() { as_pg "$PGBIN/pg_ctl" -D "$1" -m immediate -w -t 30 stop >/dev/null 2>&1 || true; }

t_pgbackrest_configure_and_backups() {
  local port m=$PB/pgbr.prom type kv
  command -v pgbackrest >/dev/null || fail "pgbackrest not installed (Debian: pgbackrest)"
  mkdir -p "$PB"
  chown postgres: "$PB"
  port=$(free_port)
  printf '%s\n' "$port" >"$WORK/pbport"
  as_pg "$PGBIN/initdb" -D "$PB/data" -U postgres -A trust --no-sync >"$WORK/pb_initdb.log" 2>&1 || fail "initdb failed: $(tail -n 5 "$WORK/pb_initdb.log")"
  printf "listen_addresses = ''\nport = %s\nunix_socket_directories = '%s'\nfsync = off\nshared_buffers = 16MB\nmax_connections = 20\nwal_level = replica\n" \
    "$port" "$PB" >>"$PB/data/postgresql.conf"
  as_pg "$PGBIN/pg_ctl" -D "$PB/data" -l "$PB/server.log" -w -t 60 start >/dev/null || fail "cluster did not start: $(tail -n 5 "$PB/server.log")"
  # configure: config file, archive_command, stanza; archive_mode needs a restart
  make_pgbr_as
  capture pb_conf "$PGBR_AS" configure --pgdata "$PB/data" --pg-port "$port" --pg-socket "$PB" --repo "$PB/repo" \
    --spool "$PB/spool" --log-dir "$PB/log" --lock-dir "$PB/lock" --compress zst --full-retention 2 --diff-retention 3 --process-max 2
  assert_rc 0 pb_conf
  assert_grep 'restart_needed=yes' "$WORK/pb_conf.out"
  for kv in "repo1-path=$PB/repo" repo1-retention-full=2 repo1-retention-diff=3 compress-type=zst archive-async=y "spool-path=$PB/spool" process-max=2 "pg1-path=$PB/data"; do
    grep -qxF -- "$kv" "$PB_CONF" || fail "$kv missing from the configuration: $(cat "$PB_CONF")"
  done
  as_pg "$PGBIN/pg_ctl" -D "$PB/data" -l "$PB/server.log" -w -t 60 restart >/dev/null || fail "restart failed"
  [[ $(pq postgres "SHOW archive_command") == "pgbackrest --config=$PB_CONF --stanza=$PB_STANZA archive-push %p" ]] || fail "archive_command: $(pq postgres "SHOW archive_command")"
  capture pb_check "$PGBR_AS" check
  assert_rc 0 pb_check
  # full, then incr and diff, with metrics
  pq postgres "CREATE DATABASE app"
  pq app "CREATE TABLE orders (id int PRIMARY KEY, phase text NOT NULL)"
  pq app "INSERT INTO orders SELECT g, 'full' FROM generate_series(1, 1000) g"
  capture pb_full "$PGBR_AS" backup --type full --metrics-file "$m"
  assert_rc 0 pb_full
  assert_grep '^pf-pgbackrest: ok backup stanza=pftest type=full label=[0-9]{8}-[0-9]{6}F ' "$WORK/pb_full.out"
  pq app "INSERT INTO orders SELECT g, 'incr' FROM generate_series(1001, 1100) g"
  capture pb_incr "$PGBR_AS" backup --type incr
  assert_rc 0 pb_incr
  assert_grep 'type=incr label=[0-9]{8}-[0-9]{6}F_[0-9]{8}-[0-9]{6}I ' "$WORK/pb_incr.out"
  capture pb_diff "$PGBR_AS" backup --type diff --metrics-file "$m"
  assert_rc 0 pb_diff
  assert_grep 'type=diff label=[0-9]{8}-[0-9]{6}F_[0-9]{8}-[0-9]{6}D ' "$WORK/pb_diff.out"
  capture pb_verify "$PGBR_AS" verify
  assert_rc 0 pb_verify
  for type in full diff incr; do
    assert_grep "^pf_pgbackrest_backup_last_completion_timestamp_seconds\\{stanza=\"pftest\",type=\"$type\"\\} 1[0-9]{9}\$" "$m"
  done
  assert_grep '^pf_pgbackrest_repo_backup_size_bytes\{stanza="pftest"\} [1-9][0-9]*$' "$m"
  assert_grep '^pf_pgbackrest_stanza_status_code\{stanza="pftest"\} 0$' "$m"
  assert_grep '^pf_pgbackrest_wal_archive_last_segment_info\{stanza="pftest",segment="[0-9A-F]{24}"\} 1$' "$m"
  assert_grep '^pf_pgbackrest_wal_archive_lag_segments\{stanza="pftest"\} 0$' "$m"
  assert_grep '^pf_pgbackrest_wal_archive_last_success_timestamp_seconds\{stanza="pftest"\} 1[0-9]{9}$' "$m"
  [[ $(grep -c '^pf_pgbackrest_wal_archive_last_segment_info' "$m") == 1 ]] || fail "stale segment samples kept: $(grep segment_info "$m")"
  promtool check metrics <"$m" >"$WORK/pb_promtool" 2>&1 || fail "promtool check metrics: $(cat "$WORK/pb_promtool")"
  [[ ! -s $WORK/pb_promtool ]] || fail "promtool check metrics reports: $(cat "$WORK/pb_promtool")"
  # the pf commands reach it too
  capture pb_via_backup runuser -u postgres -- env PATH="$PGBIN:$PATH" "$BK" --engine pgbackrest --stanza "$PB_STANZA" --config "$PB_CONF" --type incr
  assert_rc 0 pb_via_backup
  assert_grep 'type=incr' "$WORK/pb_via_backup.out"
}

# Restore to a time, an LSN and a named restore point into new data
# directories; the safety rules; a signal during the restore.
t_pgbackrest_restore_targets() {
  local t_time lsn rp=pf_test_rp r pid copy_port seg n
  [[ -s $WORK/pbport ]] || fail "needs t_pgbackrest_configure_and_backups"
  pq app "INSERT INTO orders SELECT g, 'before targets' FROM generate_series(2001, 2010) g"
  t_time=$(pq app "SELECT clock_timestamp()")
  sleep 0.2
  pq app "INSERT INTO orders SELECT g, 'after time' FROM generate_series(2011, 2020) g"
  lsn=$(pq app "SELECT pg_current_wal_insert_lsn()")
  pq app "INSERT INTO orders SELECT g, 'after lsn' FROM generate_series(2021, 2030) g"
  pq postgres "SELECT pg_create_restore_point('$rp')" >/dev/null
  pq app "INSERT INTO orders SELECT g, 'after restore point' FROM generate_series(2031, 2040) g"
  # pgbackrest check switches WAL and waits until the segment is archived
  capture pb_check2 "$PGBR_AS" check
  assert_rc 0 pb_check2
  copy_port=$(free_port)

  # to a time
  r=$PB/r-time
  capture pb_r_time "$PGBR_AS" restore --pgdata "$r" --target-time "$t_time"
  assert_rc 0 pb_r_time
  [[ -z $(find "$PB" -maxdepth 1 -name '.r-time.pf-*') ]] || fail "temporary directory left: $(ls -a "$PB")"
  assert_grep "^restore_command = 'pgbackrest --config=$PB_CONF --stanza=pftest --pg1-path=$r archive-get %f \"%p\"'\$" "$r/postgresql.auto.conf"
  start_copy "$r" "$copy_port"
  n=$(psql -X -At -h "$PB" -p "$copy_port" -U postgres -d app -c "SELECT count(*) FILTER (WHERE id <= 2010) || ' ' || count(*) FILTER (WHERE id > 2010) FROM orders")
  stop_copy "$r"
  [[ $n == "1110 0" ]] || fail "restore to time $t_time: expected '1110 0' rows before/after, got '$n'"

  # to a named restore point (into an existing, empty directory)
  r=$PB/r-name
  mkdir -p "$r" && chown postgres: "$r" && chmod 700 "$r"
  capture pb_r_name "$PGBR_AS" restore --pgdata "$r" --target-name "$rp"
  assert_rc 0 pb_r_name
  start_copy "$r" "$copy_port"
  n=$(psql -X -At -h "$PB" -p "$copy_port" -U postgres -d app -c "SELECT max(id) FROM orders")
  # the running copy: refused without --force, untouched
  capture pb_r_running "$PGBR_AS" restore --pgdata "$r" --target-name "$rp"
  assert_rc 11 pb_r_running
  assert_grep 'a PostgreSQL server is running on .*refusing' "$WORK/pb_r_running.err"
  [[ $(psql -X -At -h "$PB" -p "$copy_port" -U postgres -d app -c "SELECT max(id) FROM orders") == 2030 ]] || fail "the running copy was touched"
  # the primary's own data directory: refused too
  capture pb_r_primary "$PGBR_AS" restore --pgdata "$PB/data"
  assert_rc 11 pb_r_primary
  [[ $(pq app "SELECT count(*) FROM orders") == 1140 ]] || fail "the primary was touched"
  [[ $n == 2030 ]] || fail "restore to restore point $rp: expected max id 2030, got $n"
  # with --force the running copy is stopped and replaced once the restore is complete (to an LSN)
  capture pb_r_force "$PGBR_AS" restore --pgdata "$r" --target-lsn "$lsn" --force
  assert_rc 0 pb_r_force
  [[ -z $(find "$PB" -maxdepth 1 -name '.r-name.pf-*') ]] || fail "temporary or old directory left: $(ls -a "$PB")"
  start_copy "$r" "$copy_port"
  n=$(psql -X -At -h "$PB" -p "$copy_port" -U postgres -d app -c "SELECT max(id) FROM orders")
  stop_copy "$r"
  [[ $n == 2020 ]] || fail "forced restore to LSN: expected max id 2020, got $n"
  # a non-empty directory without --force: refused
  capture pb_r_nonempty "$PGBR_AS" restore --pgdata "$r"
  assert_rc 11 pb_r_nonempty
  assert_grep 'is not empty; refusing' "$WORK/pb_r_nonempty.err"
  # bad target options: exit 2
  capture pb_r_bad "$PGBR_AS" restore --pgdata "$PB/r-bad" --target-time "$t_time" --target-lsn "$lsn"
  assert_rc 2 pb_r_bad
  capture pb_r_badlsn "$PGBR_AS" restore --pgdata "$PB/r-bad" --target-lsn 'x/1; rm -rf /'
  assert_rc 2 pb_r_badlsn

  # SIGTERM while pgBackRest restores: exit 143, no directory, no temporary directory
  mkdir -p "$WORK/pbgate"
  # shellcheck disable=SC2016 # expanded by the wrapper
  printf '#!/bin/sh\nif [ "$5" = restore ] || [ "$6" = restore ]; then : >%q; sleep 30; fi\nexec %q "$@"\n' "$PB/pbgate.started" "$(command -v pgbackrest)" >"$WORK/pbgate/pgbackrest"
  chmod 755 "$WORK/pbgate/pgbackrest"
  runuser -u postgres -- env PATH="$WORK/pbgate:$PGBIN:$PATH" "$PGBR" restore --stanza "$PB_STANZA" --config "$PB_CONF" --pgdata "$PB/r-term" \
    >"$WORK/pb_r_term.out" 2>"$WORK/pb_r_term.err" &
  pid=$!
  wait_file "$PB/pbgate.started" || fail "pgbackrest restore did not start: $(cat "$WORK/pb_r_term.err")"
  [[ -n $(find "$PB" -maxdepth 1 -name '.r-term.pf-restore.*') ]] || fail "test setup: no temporary directory during the restore"
  # runuser's child is the tool
  kill -TERM "$(pgrep -P "$pid" | head -n 1)" || fail "test setup: no tool process under runuser"
  wait_bounded "$pid" 60
  assert_rc 143 pb_r_term
  assert_grep 'interrupted \(SIGTERM\)' "$WORK/pb_r_term.err"
  [[ ! -e $PB/r-term && -z $(find "$PB" -maxdepth 1 -name '.r-term.pf-*') ]] || fail "SIGTERM left a directory: $(ls -a "$PB")"
  seg=$(pgrep -f -- "$WORK/pbgate" || true)
  [[ -z $seg ]] || fail "the gated pgbackrest still runs"
}

# Restore drill: scratch cluster, replay to a time, row counts, amcheck, RTO
# and RPO, metrics; the scratch cluster is gone afterwards.
t_pgbackrest_drill() {
  local t_time m=$PB/pgbr.prom rep=$WORK/pb_drill.report
  [[ -s $WORK/pbport ]] || fail "needs t_pgbackrest_configure_and_backups"
  pq app "CREATE INDEX orders_phase ON orders (phase)"
  pq app "CREATE TABLE audit (id int PRIMARY KEY)"
  pq app "INSERT INTO audit SELECT generate_series(1, 77)"
  sleep 1.1 # the target (whole seconds) comes after the last commit before it
  t_time=$(pq app "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'")
  sleep 1.1
  pq app "INSERT INTO audit SELECT generate_series(78, 99)"
  capture pb_check3 "$PGBR_AS" check
  assert_rc 0 pb_check3
  chmod 711 "$WORK"
  mkdir -p "$PB/scratch" && chown postgres: "$PB/scratch"
  capture pb_drill runuser -u postgres -- env PATH="$PGBIN:$PATH" "$HERE/../pf-drill" --engine pgbackrest --stanza "$PB_STANZA" --config "$PB_CONF" \
    --scratch-dir "$PB/scratch" --target-time "$t_time" --report "$PB/drill.report" --metrics-file "$m"
  assert_rc 0 pb_drill
  cp "$PB/drill.report" "$rep"
  assert_grep '^pf-pgbackrest: ok drill stanza=pftest target=time_.* rto=[0-9]+\.[0-9]{3}s rpo=[0-9]+\.[0-9]{1,3}s databases=2 tables=2 rows=1217 amcheck=[1-9][0-9]* ' "$WORK/pb_drill.out"
  grep -qxF "$(printf 'app\t77\tpublic.audit')" "$rep" || fail "report: audit should have 77 rows at $t_time: $(cat "$rep")"
  grep -qxF "$(printf 'app\t1140\tpublic.orders')" "$rep" || fail "report: orders should have 1140 rows: $(cat "$rep")"
  local rpo
  # the last commit before the target is strictly earlier than the target
  rpo=$(sed -n 's/.* rpo=\([0-9.]*\)s .*/\1/p' "$WORK/pb_drill.out")
  [[ $rpo =~ ^[0-9]+\.[0-9]+$ && ! $rpo =~ ^0\.0*$ ]] || fail "RPO '$rpo': expected a positive number of seconds"
  assert_grep '^pf_pgbackrest_drill_last_success_timestamp_seconds\{stanza="pftest"\} 1[0-9]{9}$' "$m"
  assert_grep '^pf_pgbackrest_drill_rto_seconds\{stanza="pftest"\} [0-9]+\.[0-9]{3}$' "$m"
  assert_grep "^pf_pgbackrest_drill_rpo_seconds\\{stanza=\"pftest\"\\} $rpo\$" "$m"
  [[ -z $(find "$PB/scratch" -mindepth 1) ]] || fail "the scratch directory was not removed: $(ls -a "$PB/scratch")"
  # the primary archived nothing from the scratch cluster: one timeline only
  [[ -z $(find "$PB/repo/archive" -name '00000002*') ]] || fail "the scratch cluster archived into the repository"
  # a failing drill (no such backup set) records its exit code and leaves nothing
  capture pb_drill_bad runuser -u postgres -- env PATH="$PGBIN:$PATH" "$HERE/../pf-drill" --engine pgbackrest --stanza "$PB_STANZA" --config "$PB_CONF" \
    --scratch-dir "$PB/scratch" --set 20000101-000000F --metrics-file "$m"
  assert_rc 17 pb_drill_bad
  assert_grep '^pf_pgbackrest_drill_last_exit_code\{stanza="pftest"\} 17$' "$m"
  [[ -z $(find "$PB/scratch" -mindepth 1) ]] || fail "a failed drill left files: $(ls -a "$PB/scratch")"
}

# ---- runner ----------------------------------------------------------------------------------------
PASSED=0
FAILED=0
FAILED_NAMES=()
run() {
  local name=$1 rc t0 t1
  # PF_BACKUP_TESTS="t_a t_b": run only these (and the fixture)
  if [[ -n ${PF_BACKUP_TESTS:-} && $name != make_fixture && " $PF_BACKUP_TESTS " != *" $name "* ]]; then
    return 0
  fi
  t0=$(date +%s%N)
  set +e
  (
    set -e
    [[ -z ${PF_BACKUP_TESTS_TRACE:-} ]] || set -x
    "$name"
  ) >"$WORK/$name.log" 2>&1
  rc=$?
  set -e
  t1=$(date +%s%N)
  if [[ $rc == 0 ]]; then
    PASSED=$((PASSED + 1))
    say "ok   ${name#t_} ($(((t1 - t0) / 1000000)) ms)"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("${name#t_}")
    say "FAIL ${name#t_} ($(((t1 - t0) / 1000000)) ms)"
    sed 's/^/    /' "$WORK/$name.log" | tail -n "${PF_BACKUP_TESTS_LOG_LINES:-60}"
  fi
}

say "server $PGUSER@$PGHOST:$PGPORT, throwaway databases ${PREFIX}*, cluster port $CPORT, pg bin $PGBIN"
if ! psql -X -q -At -d postgres -c 'SELECT 1' >/dev/null; then
  echo "backup tests: cannot connect to PostgreSQL at $PGHOST:$PGPORT as $PGUSER" >&2
  echo "backup tests: 0 passed, 1 failed"
  exit 1
fi

run make_fixture
run t_help_and_usage
run t_round_trip
run t_dry_run
run t_corrupt_and_truncated
run t_connection_errors
run t_dump_failure_leaves_nothing
run t_existing_target
run t_validation_failure
run t_exit_on_error_and_no_owner
run t_retention
run t_concurrent_backups
run t_consistent_under_writes
run t_swap_sigterm
run t_swap_session_on_staging
run t_no_lock_cycle
run t_db_timeouts
run t_db_properties
run t_retention_scope
run t_drill_picks_exact_database
run t_kill_backup_leaves_nothing
run t_timeout
run t_odd_names
run t_url_parameters
run t_disk_full_manifest
run t_metrics
run t_foreign_staging_untouched
run t_d5_stale_staging
run t_d1_child_traps
run t_d2_backslash_name
run t_d7_numeric_ranges
run t_d8_taken_is_snapshot_time
run t_d6_metrics_keep_others
run t_d4_no_password_in_children
run t_timings
run t_cluster_start
run t_password_auth
run t_swap_rollback
run t_d3_two_servers
run t_pitr
run t_pgbackrest_configure_and_backups
run t_pgbackrest_restore_targets
run t_pgbackrest_drill

if [[ -f $WORK/timings.txt ]]; then
  while IFS= read -r line; do say "$line"; done <"$WORK/timings.txt"
fi
((FAILED == 0)) || say "failed: ${FAILED_NAMES[*]}"
echo "backup tests: $PASSED passed, $FAILED failed"
((FAILED == 0))
