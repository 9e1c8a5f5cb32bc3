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
STAGING_BEFORE=$WORK/staging.before
psql -X -At -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'pf\\_restore\\_%'" >"$STAGING_BEFORE" 2>/dev/null || true

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$? d
  set +e
  trap - EXIT INT TERM
  for d in "$CDIR"/data "$CDIR"/restored; do
    if [[ -f $d/postmaster.pid ]]; then
      as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
    fi
  done
  # our databases, and staging databases that appeared during the run
  psql -X -At -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE '${PREFIX//_/\\_}%' OR datname LIKE 'pf\\_restore\\_%'" 2>/dev/null |
    grep -vxF -f "$STAGING_BEFORE" | while IFS= read -r d; do
      [[ -n $d ]] && psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null 2>&1
    done
  psql -X -q -d postgres -c "DROP ROLE IF EXISTS \"$ROLE\"" >/dev/null 2>&1
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
# databases named pf_restore_* that were not there when the suite started
new_staging() {
  q postgres "SELECT datname FROM pg_database WHERE datname LIKE 'pf\\_restore\\_%'" | grep -vxF -f "$STAGING_BEFORE" || true
}
assert_no_staging() {
  local s
  s=$(new_staging)
  [[ -z $s ]] || fail "staging database left behind: $s"
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
  as_pg "$PGBIN/pg_ctl" -D "$restored" -l "$CDIR/restored.log" -w -t 60 start >/dev/null ||
    fail "recovered cluster did not start: $(tail -n 20 "$CDIR/restored.log")"
  for _ in $(seq 1 300); do
    [[ $(cq postgres "SELECT pg_is_in_recovery()") == f ]] && break
    sleep 0.1
  done
  [[ $(cq postgres "SELECT pg_is_in_recovery()") == f ]] || fail "recovery did not finish"
  rows=$(cq pitr "SELECT string_agg(id::text, ',' ORDER BY id) FROM events")
  [[ $rows == 1,2,3,4,5,6 ]] || fail "after recovery to $t_target expected rows 1..6, got $rows"
  grep -q 'recovery stopping before commit of transaction' "$CDIR/restored.log" ||
    fail "server log does not show recovery stopping at the target: $(grep -i recovery "$CDIR/restored.log")"
}

# ---- runner ----------------------------------------------------------------------------------------
PASSED=0
FAILED=0
FAILED_NAMES=()
run() {
  local name=$1 rc t0 t1
  t0=$(date +%s%N)
  set +e
  (
    set -e
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
    sed 's/^/    /' "$WORK/$name.log" | tail -n 60
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
run t_cluster_start
run t_password_auth
run t_pitr

((FAILED == 0)) || say "failed: ${FAILED_NAMES[*]}"
echo "backup tests: $PASSED passed, $FAILED failed"
((FAILED == 0))
