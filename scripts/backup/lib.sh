# shellcheck shell=bash
# Shared helpers for pf-backup and pf-restore. Sourced, never executed.
#
# The caller sets PF_PROG (used in log lines) before sourcing this file and
# runs with `set -euo pipefail` and `umask 077`.

# ---- exit codes ----------------------------------------------------------------
# One table for both tools, so a code means the same thing everywhere. Listed in
# both --help texts and in docs/backup.md.
# shellcheck disable=SC2034
{
  EX_OK=0          # success
  EX_FAIL=1        # unexpected internal error
  EX_USAGE=2       # bad command line
  EX_CONFIG=3      # bad environment: missing tool, bad DATABASE_URL, unusable directory
  EX_CONNECT=4     # cannot connect or authenticate to PostgreSQL
  EX_LOCKED=5      # pf-backup: another run holds the lock (after --lock-timeout)
  EX_DUMP=6        # pf-backup: pg_dump or the row-count snapshot failed
  EX_VERIFY=7      # pf-backup: the fresh dump did not read back with pg_restore
  EX_RETENTION=8   # pf-backup: backup written, but retention could not delete a file
  EX_INTEGRITY=10  # pf-restore: file, checksum sidecar or manifest missing/mismatched/unreadable
  EX_REFUSED=11    # pf-restore: target exists (no --force) or is the source database
  EX_RESTORE=12    # pf-restore: creating the database or pg_restore failed
  EX_VALIDATION=13 # pf-restore: restored tables/row counts differ from the manifest
}

PF_EXIT_CODES_HELP='Exit codes (shared by pf-backup and pf-restore):
   0  success
   1  unexpected internal error
   2  bad command line
   3  bad environment (missing tool, bad DATABASE_URL, unusable directory)
   4  cannot connect or authenticate to PostgreSQL
   5  pf-backup: another run holds the lock (after --lock-timeout)
   6  pf-backup: pg_dump or the row-count snapshot failed
   7  pf-backup: the new dump did not read back with pg_restore
   8  pf-backup: backup written, but retention could not delete a file
  10  pf-restore: dump, .sha256 sidecar or .manifest missing, mismatched or unreadable
  11  pf-restore: target exists (no --force) or is the dump'"'"'s source database
  12  pf-restore: creating the database or pg_restore failed
  13  pf-restore: restored tables or row counts differ from the manifest'

# ---- logging -------------------------------------------------------------------
# Every value that must never be printed (passwords) is registered here and
# replaced by **** in anything that goes through log/die.
PF_SECRETS=()

redact() {
  local s=$1 secret
  for secret in "${PF_SECRETS[@]}"; do
    [[ -n $secret ]] && s=${s//"$secret"/****}
  done
  printf '%s' "$s"
}

# Timestamped progress line on stderr.
log() {
  printf '%s %s[%d]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$PF_PROG" "$$" "$(redact "$*")" >&2
}

# die CODE MESSAGE...
die() {
  local code=$1
  shift
  log "error: $*"
  exit "$code"
}

# Log each line of a file (tool stderr) with a prefix, redacted.
log_file() {
  local prefix=$1 file=$2 line
  [[ -s $file ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    log "$prefix$line"
  done <"$file"
}

# The line of a tool's stderr that says what went wrong, for error messages:
# the first line mentioning an error, else the first non-empty line.
first_line() {
  local line first=''
  while IFS= read -r line || [[ -n $line ]]; do
    [[ -z $line ]] && continue
    [[ -z $first ]] && first=$line
    if [[ $line == *error* || $line == *FATAL* || $line == *ERROR* ]]; then
      printf '%s' "$line"
      return 0
    fi
  done <"$1"
  printf '%s' "$first"
}

# ---- small utilities -----------------------------------------------------------
now_us() { local t=${EPOCHREALTIME/./}; printf '%s' "$t"; }

# seconds with two decimals between two now_us values
duration_s() {
  local us=$(($2 - $1))
  printf '%d.%02ds' $((us / 1000000)) $(((us % 1000000) / 10000))
}

human_size() {
  if command -v numfmt >/dev/null 2>&1; then
    numfmt --to=iec-i --suffix=B --format='%.1f' "$1"
  else
    printf '%sB' "$1"
  fi
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

require_tools() {
  local t missing=()
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  if ((${#missing[@]})); then
    die "$EX_CONFIG" "missing tools: ${missing[*]} (install the PostgreSQL client of the server's major version or newer, or set PF_PG_BINDIR)"
  fi
}

# A libpq connection string that selects only a database name; everything
# else (host, port, user, password file, sslmode...) comes from the PG*
# environment. Quoting per libpq: single quotes, \ and ' escaped.
dbname_conninfo() {
  local v=$1
  v=${v//\\/\\\\}
  v=${v//\'/\\\'}
  printf "dbname='%s'" "$v"
}

# Temporary directory for this run (session fifos, password file, tool
# output). Removed by pf_cleanup_tmp.
PF_TMP=
make_tmp() {
  PF_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$PF_PROG.XXXXXXXX") || die "$EX_CONFIG" "cannot create a temporary directory"
}
pf_cleanup_tmp() {
  if [[ -n $PF_TMP && -d $PF_TMP ]]; then
    rm -rf -- "$PF_TMP"
  fi
}

# ---- connection settings ---------------------------------------------------------
# Percent-decoding as libpq does it for URIs (no '+' -> space).
pct_decode() {
  local s=$1 out
  if [[ $s == *%* ]]; then
    if [[ $s =~ %([^0-9A-Fa-f]|.[^0-9A-Fa-f]|.?$) ]] || [[ $s == *%00* ]]; then
      return 1
    fi
    s=${s//\\/\\\\}
    printf -v out '%b' "${s//%/\\x}"
    printf '%s' "$out"
  else
    printf '%s' "$s"
  fi
}

# Parse DATABASE_URL (postgres:// or postgresql://, the libpq URI syntax) into
# the standard PG* variables. The password never goes into the environment of
# child processes or onto a command line: it is written to a private password
# file (mode 0600, in PF_TMP) named by PGPASSFILE. Error messages never quote
# the URL.
parse_database_url() {
  local url=$1 rest userinfo='' hostport path='' query='' user='' password='' host='' port='' have_pw=0
  local v kv key val
  case $url in
    postgres://* | postgresql://*) rest=${url#*://} ;;
    *) die "$EX_CONFIG" "DATABASE_URL must start with postgres:// or postgresql://" ;;
  esac
  # userinfo ends at the first '@' seen before any '/' (libpq's rule)
  v=${rest%%[@/]*}
  if [[ ${rest:${#v}:1} == '@' ]]; then
    userinfo=$v
    rest=${rest:$((${#v} + 1))}
  fi
  hostport=${rest%%[/?]*}
  rest=${rest:${#hostport}}
  if [[ $rest == /* ]]; then
    path=${rest#/}
    path=${path%%\?*}
  fi
  if [[ $rest == *\?* ]]; then
    query=${rest#*\?}
  fi
  if [[ -n $userinfo ]]; then
    user=${userinfo%%:*}
    if [[ $userinfo == *:* ]]; then
      password=${userinfo#*:}
      have_pw=1
      # register the raw form at once, before anything can fail
      PF_SECRETS+=("$password")
    fi
  fi
  if [[ $hostport == *,* ]]; then
    die "$EX_CONFIG" "DATABASE_URL: several hosts are not supported; use one host"
  fi
  if [[ $hostport == \[* ]]; then
    host=${hostport#\[}
    host=${host%%\]*}
    v=${hostport#*\]}
    [[ $v == :* ]] && port=${v#:}
  else
    host=${hostport%%:*}
    [[ $hostport == *:* ]] && port=${hostport#*:}
  fi

  local -A params=()
  if [[ -n $query ]]; then
    local IFS='&'
    for kv in $query; do
      [[ -z $kv ]] && continue
      [[ $kv == *=* ]] || die "$EX_CONFIG" "DATABASE_URL: malformed query parameter"
      key=${kv%%=*}
      val=${kv#*=}
      if [[ $key == password ]]; then
        PF_SECRETS+=("$val")
      fi
      val=$(pct_decode "$val") || die "$EX_CONFIG" "DATABASE_URL: invalid percent-encoding in parameter $key"
      params[$key]=$val
    done
    unset IFS
  fi

  user=$(pct_decode "$user") || die "$EX_CONFIG" "DATABASE_URL: invalid percent-encoding in the user name"
  if ((have_pw)); then
    password=$(pct_decode "$password") || die "$EX_CONFIG" "DATABASE_URL: invalid percent-encoding in the password"
    PF_SECRETS+=("$password")
  fi
  host=$(pct_decode "$host") || die "$EX_CONFIG" "DATABASE_URL: invalid percent-encoding in the host"
  path=$(pct_decode "$path") || die "$EX_CONFIG" "DATABASE_URL: invalid percent-encoding in the database name"
  [[ -z $port || $port =~ ^[0-9]+$ ]] || die "$EX_CONFIG" "DATABASE_URL: port is not a number"

  # The URL replaces whatever PG* connection settings were in the environment.
  unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD
  [[ -n $host ]] && export PGHOST=$host
  [[ -n $port ]] && export PGPORT=$port
  [[ -n $path ]] && export PGDATABASE=$path
  [[ -n $user ]] && export PGUSER=$user

  for key in "${!params[@]}"; do
    val=${params[$key]}
    case $key in
      host) export PGHOST=$val ;;
      hostaddr) export PGHOSTADDR=$val ;;
      port) export PGPORT=$val ;;
      dbname) export PGDATABASE=$val ;;
      user) export PGUSER=$val ;;
      password) password=$val; have_pw=1; PF_SECRETS+=("$val") ;;
      passfile) export PGPASSFILE=$val ;;
      sslmode) export PGSSLMODE=$val ;;
      sslcert) export PGSSLCERT=$val ;;
      sslkey) export PGSSLKEY=$val ;;
      sslrootcert) export PGSSLROOTCERT=$val ;;
      sslcrl) export PGSSLCRL=$val ;;
      sslcompression) export PGSSLCOMPRESSION=$val ;;
      gssencmode) export PGGSSENCMODE=$val ;;
      krbsrvname) export PGKRBSRVNAME=$val ;;
      channel_binding) export PGCHANNELBINDING=$val ;;
      connect_timeout) export PGCONNECT_TIMEOUT=$val ;;
      application_name) export PGAPPNAME=$val ;;
      options) export PGOPTIONS=$val ;;
      target_session_attrs) export PGTARGETSESSIONATTRS=$val ;;
      *) die "$EX_CONFIG" "DATABASE_URL: unsupported parameter '$key'" ;;
    esac
  done

  if ((have_pw)); then
    write_passfile "$password"
  fi
}

# Write a private password file (any host/port/db/user -> password) and point
# libpq at it. Escaping per libpq: backslash and colon.
write_passfile() {
  local pw=$1
  [[ $pw == *$'\n'* ]] && die "$EX_CONFIG" "passwords containing a newline are not supported"
  pw=${pw//\\/\\\\}
  pw=${pw//:/\\:}
  local f=$PF_TMP/pgpass
  (umask 077 && printf '*:*:*:*:%s\n' "$pw" >"$f")
  chmod 600 "$f"
  export PGPASSFILE=$f
}

# Connection from DATABASE_URL if set, else the standard PG* variables and
# ~/.pgpass (libpq's own rules). A PGPASSWORD from the environment is moved
# into the private password file too, so no child process inherits it.
setup_connection() {
  if [[ -n ${DATABASE_URL:-} ]]; then
    parse_database_url "$DATABASE_URL"
  elif [[ -n ${PGPASSWORD:-} ]]; then
    PF_SECRETS+=("$PGPASSWORD")
    write_passfile "$PGPASSWORD"
  fi
  unset DATABASE_URL PGPASSWORD
  # An unreachable server must fail, not hang.
  export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}
  if [[ -n ${PF_PG_BINDIR:-} ]]; then
    PATH=$PF_PG_BINDIR:$PATH
  fi
}

# user@host:port for logs (never a password).
conn_desc() {
  printf '%s@%s:%s' "${PGUSER:-$(id -un)}" "${PGHOST:-local socket}" "${PGPORT:-5432}"
}

# ---- row counts --------------------------------------------------------------------
# One line per user table: "<exact row count>\t<schema>.<table>" (quoted
# identifiers, with backslash, tab, CR and newline escaped so each table is
# exactly one line), ordered by name. ONLY: each partition / inheritance child
# is counted once, on its own line. Tables that belong to an extension are
# left out (CREATE EXTENSION recreates them). The counts come from one query,
# so they share that query's snapshot (the whole transaction's in pf-backup).
PF_COUNT_SQL="SELECT (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
       || E'\\t' ||
       replace(replace(replace(replace(quote_ident(n.nspname) || '.' || quote_ident(c.relname),
               E'\\\\', E'\\\\\\\\'), E'\\t', E'\\\\t'), E'\\r', E'\\\\r'), E'\\n', E'\\\\n')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY quote_ident(n.nspname) || '.' || quote_ident(c.relname)"

# Escape a value for one manifest line (same escaping as the table names).
manifest_escape() {
  local v=$1
  v=${v//\\/\\\\}
  v=${v//$'\t'/\\t}
  v=${v//$'\r'/\\r}
  v=${v//$'\n'/\\n}
  printf '%s' "$v"
}
manifest_unescape() {
  printf '%b' "$1"
}
