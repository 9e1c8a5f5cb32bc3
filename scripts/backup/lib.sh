# shellcheck shell=bash
# Shared helpers for pf-backup and pf-restore. Sourced, never executed.
#
# The caller sets PF_PROG (used in log lines) before sourcing this file and
# runs with `set -euo pipefail` and `umask 077`.

# ---- main process ----------------------------------------------------------------
# The tool's own process. A subshell forked by the tool (spawn before its exec,
# a command substitution) that is hit by a signal in the instant after the
# fork may still run the tool's traps (bash does this): every trap checks
# pf_forked first and then only ends that subshell, so cleanup (killing
# children, dropping databases, deleting PF_TMP) runs in the main process
# alone.
PF_MAIN_PID=$BASHPID
pf_forked() { [[ $BASHPID != "$PF_MAIN_PID" ]]; }
# The tool's EXIT trap function (set by the tool; tests simulate with it what
# bash does in a freshly forked child, see spawn).
PF_EXIT_FN=
# No child process ever inherits a secret: the tools stop exporting these
# before their first child; setup_connection reads them.
export -n DATABASE_URL PGPASSWORD 2>/dev/null || true

# ---- locale --------------------------------------------------------------------
# Byte semantics everywhere: file labels, pattern matching, sorting and the
# tools' messages do not depend on the caller's locale.
export LC_ALL=C
# log timestamps are UTC (bash's own strftime, no fork per line)
export TZ=UTC

# ---- exit codes ----------------------------------------------------------------
# One table for all tools, so a code means the same thing everywhere. Listed in
# every --help text and in docs/backup.md.
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
  EX_LOCKWAIT=9    # a table or database lock was not granted within --lock-wait-timeout
  EX_INTEGRITY=10  # pf-restore: file, checksum sidecar or manifest missing/mismatched/unreadable
  EX_REFUSED=11    # pf-restore: target exists (no --force) or is the source database
  EX_RESTORE=12    # pf-restore: creating the database, pg_restore or the swap failed
  EX_VALIDATION=13 # pf-restore/pf-drill: restored data differs from the manifest, or amcheck failed
  EX_TIMEOUT=14    # the overall --timeout expired
  EX_WRITE=15      # pf-backup: cannot write into DIR (disk full, I/O error)
  EX_NOBACKUP=16   # pf-drill: no backup of the database in DIR
  EX_PGBACKREST=17 # pf-pgbackrest: a pgBackRest command (stanza, backup, check, verify, restore) failed
  EX_INT=130       # interrupted by SIGINT
  EX_TERM=143      # interrupted by SIGTERM
}

# shellcheck disable=SC2034 # used by the tools' --help
PF_EXIT_CODES_HELP='Exit codes (shared by pf-backup, pf-restore and pf-drill):
   0  success
   1  unexpected internal error
   2  bad command line
   3  bad environment (missing tool, bad DATABASE_URL, unusable directory)
   4  cannot connect or authenticate to PostgreSQL
   5  pf-backup: another run holds the lock (after --lock-timeout)
   6  pf-backup: pg_dump or the row-count snapshot failed (also: a table was
      rewritten, truncated or dropped while the backup ran)
   7  pf-backup: the new dump did not read back with pg_restore
   8  pf-backup: backup written, but retention could not delete a file
   9  a table or database lock was not granted within --lock-wait-timeout
      (a migration or another session holds a conflicting lock); nothing
      was written or changed
  10  pf-restore: dump, .sha256 sidecar or .manifest missing, mismatched or unreadable
  11  pf-restore: target exists (no --force) or is the dump'"'"'s source database
  12  pf-restore: creating the database, pg_restore, database properties or the swap failed
  13  pf-restore/pf-drill: restored tables or row counts differ from the
      manifest, or amcheck found a corrupt index
  14  the overall --timeout expired
  15  pf-backup: cannot write into the backup directory (disk full, I/O error)
  16  pf-drill: no backup of the database in the directory
  17  pf-pgbackrest: a pgBackRest command failed (stanza-create, backup,
      check, verify, restore; its log lines are printed)
 130  interrupted (SIGINT)   143  interrupted (SIGTERM)'

# ---- logging -------------------------------------------------------------------
# Every value that must never be printed (passwords) is registered here and
# replaced by **** in anything that goes through log/die.
PF_SECRETS=()

# Log lines go to a duplicate of the original stderr, so that a line logged
# while a command's stderr is redirected into a file (a trap running at that
# moment) still reaches the caller.
exec {PF_LOG_FD}>&2

# redact_to VAR TEXT: TEXT with every secret replaced, without a fork
redact_to() {
  local -n _rt_out=$1
  local _rt_s=$2 _rt_secret
  for _rt_secret in "${PF_SECRETS[@]}"; do
    [[ -n $_rt_secret ]] && _rt_s=${_rt_s//"$_rt_secret"/****}
  done
  _rt_out=$_rt_s
}
redact() {
  local r
  redact_to r "$1"
  printf '%s' "$r"
}

# Timestamped progress line on stderr.
log() {
  local t msg now=$EPOCHREALTIME
  printf -v t '%(%Y-%m-%dT%H:%M:%S)T' "${now%.*}"
  now=${now#*.}
  redact_to msg "$*"
  # one line per message, whatever a name contains
  msg=${msg//$'\n'/\\n}
  msg=${msg//$'\r'/\\r}
  { printf '%s.%sZ %s[%d]: %s\n' "$t" "${now:0:3}" "$PF_PROG" "$$" "$msg" >&"$PF_LOG_FD"; } 2>/dev/null || true
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
  [[ -f $1 ]] || return 0
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

# Does a tool's stderr say that a lock was not granted in time?
is_lock_timeout() {
  grep -qiE 'lock timeout|could not obtain lock|canceling statement due to (statement|lock) timeout.*|Query was: LOCK TABLE' -- "$1" 2>/dev/null
}
is_disk_full() {
  grep -qiE 'No space left on device|Disk quota exceeded|File too large' -- "$1" 2>/dev/null
}

# ---- small utilities -----------------------------------------------------------
now_us() { local t=${EPOCHREALTIME/./}; printf '%s' "$t"; }

# seconds with two decimals between two now_us values
duration_s() {
  local us=$(($2 - $1))
  printf '%d.%02ds' $((us / 1000000)) $(((us % 1000000) / 10000))
}
# seconds with three decimals, no unit (for metrics)
duration_num() {
  local us=$(($2 - $1))
  printf '%d.%03d' $((us / 1000000)) $(((us % 1000000) / 1000))
}

human_size() {
  if command -v numfmt >/dev/null 2>&1; then
    numfmt --to=iec-i --suffix=B --format='%.1f' "$1"
  else
    printf '%sB' "$1"
  fi
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# uint_in_range VALUE MIN MAX: a whole number (decimal digits, leading zeros
# allowed) within [MIN, MAX]. The length is checked before any arithmetic, so a
# value too big for bash's 64-bit integers can never wrap around.
uint_in_range() {
  local v=$1
  [[ $v =~ ^[0-9]+$ ]] || return 1
  v=${v#"${v%%[!0]*}"}
  [[ -z $v ]] && v=0
  ((${#v} <= 18)) || return 1
  ((10#$v >= $2 && 10#$v <= $3))
}

require_tools() {
  local t missing=()
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  if ((${#missing[@]})); then
    die "$EX_CONFIG" "missing tools: ${missing[*]} (install the PostgreSQL client of the server's major version or newer, or set PF_PG_BINDIR)"
  fi
}

# Decode a hex string (as from SQL encode(..., 'hex')) into VAR, byte for byte.
hex_decode_to() {
  local -n _out=$1
  local h=$2 esc='' i
  for ((i = 0; i < ${#h}; i += 2)); do esc+="\\x${h:i:2}"; done
  printf -v _out '%b' "$esc"
}

# File-name label of a database: the name with every byte outside
# [A-Za-z0-9_-] replaced by _ (byte-wise, LC_ALL=C), and when that changed
# anything, '-' and the first 8 hex digits of the SHA-256 of the exact name,
# so that app.b and app_b never share a label.
db_label() {
  local name=$1 l h
  l=${name//[^A-Za-z0-9_-]/_}
  l=${l:0:90}
  if [[ $l != "$name" ]]; then
    h=$(printf '%s' "$name" | sha256sum)
    l+=-${h:0:8}
  fi
  printf '%s' "$l"
}

# ---- child processes ---------------------------------------------------------------
# Every long-running child (psql, pg_dump, pg_restore) is started by spawn:
# in the background, in its own session and process group (so a signal meant
# for this tool's group, e.g. from timeout(1) or a terminal, does not kill it
# half-way; cleanup kills the whole group), with SIGTERM sent to it by the
# kernel if this tool dies in any way, SIGKILL included (setpriv
# --pdeathsig), and without the descriptors listed in PF_CLOSE_FDS (the
# directory lock, the snapshot session's pipes) so that no orphan can keep
# them. With PF_SPAWN_IGNORE_SIGNALS=1 the child ignores SIGINT/SIGTERM
# (the swap in pf-restore, which must run to its end).
PF_CLOSE_FDS=()
PF_CHILDREN=()
PF_SPAWNED=
PF_SPAWN_IGNORE_SIGNALS=0
spawn() {
  local -a pre=()
  if command -v setpriv >/dev/null 2>&1; then
    pre+=(setpriv --pdeathsig TERM --)
  fi
  command -v setsid >/dev/null 2>&1 && pre+=(setsid)
  (
    # tests only: what bash does when a signal reaches this subshell right
    # after the fork, before it has reset the tool's traps: run the tool's
    # EXIT trap here (pf_forked makes it end only this subshell)
    if [[ -n ${PF_TEST_CHILD_RUNS_TRAPS:-} && -n $PF_EXIT_FN ]]; then
      { (exit 143) || "$PF_EXIT_FN"; } || true
    fi
    trap - EXIT
    local fd
    for fd in "${PF_CLOSE_FDS[@]}"; do
      [[ -n $fd ]] && eval "exec $fd>&-"
    done
    exec {PF_LOG_FD}>&-
    # fifos are opened here, in the child: opening one blocks until its
    # other end is opened
    if [[ -n ${PF_SPAWN_IN:-} ]]; then exec <"$PF_SPAWN_IN"; fi
    if [[ -n ${PF_SPAWN_OUT:-} ]]; then exec >"$PF_SPAWN_OUT"; fi
    # tests only: widen the instant in which this subshell still takes the
    # signals of the tool's process group (see swap_sql in pf-restore)
    if [[ -n ${PF_TEST_SPAWN_PAUSE:-} ]]; then sleep "$PF_TEST_SPAWN_PAUSE"; fi
    if ((PF_SPAWN_IGNORE_SIGNALS)); then
      trap '' INT TERM
    else
      trap - INT TERM
    fi
    exec "${pre[@]}" "$@"
  ) <&0 & # explicit: an asynchronous list would otherwise read /dev/null
  PF_SPAWNED=$!
  PF_CHILDREN+=("$PF_SPAWNED")
}

# Wait for a spawned child; returns its exit status. A trapped signal that
# interrupts the wait runs its trap (which normally exits); if the trap only
# records the signal (deferred), the wait resumes.
wait_child() {
  local pid=$1 rc
  while :; do
    rc=0
    wait "$pid" 2>/dev/null || rc=$?
    if ((rc > 128)) && kill -0 "$pid" 2>/dev/null; then
      continue
    fi
    return "$rc"
  done
}

# run CMD...: spawn and wait (interruptible by the tool's traps).
run() {
  spawn "$@"
  wait_child "$PF_SPAWNED"
}

# Kill every child still running (its whole process group), then reap.
kill_children() {
  local pid alive=()
  for pid in "${PF_CHILDREN[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
      alive+=("$pid")
    fi
  done
  ((${#alive[@]})) || return 0
  local i
  for ((i = 0; i < 50; i++)); do
    local any=0
    for pid in "${alive[@]}"; do
      kill -0 "$pid" 2>/dev/null && any=1
    done
    ((any)) || break
    sleep 0.1
  done
  for pid in "${alive[@]}"; do
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  return 0
}

# Overall deadline: SIGALRM to this tool after SEC seconds (0 = none). The
# watchdog dies with the tool.
# shellcheck disable=SC2034 # for the tools
PF_WATCHDOG=
start_watchdog() {
  local sec=$1
  ((sec > 0)) || return 0
  # the watchdog (and its sleep) must not keep the password file alive
  local -a PF_CLOSE_FDS=("${PF_CLOSE_FDS[@]}" "${PF_PASS_FD:-}")
  # one process, no sleep child that could outlive it: read with a timeout
  # on a fifo that nobody writes to
  mkfifo "$PF_TMP/watchdog" || return 1
  # shellcheck disable=SC2016 # expanded by the child bash
  spawn bash -c 'exec 0<>"$3"; read -r -t "$1" _ || kill -ALRM "$2"' pf-watchdog "$sec" "$$" "$PF_TMP/watchdog" </dev/null >/dev/null 2>&1
  # shellcheck disable=SC2034
  PF_WATCHDOG=$PF_SPAWNED
}

# ---- private runtime directory ---------------------------------------------------
# Temporary directory for this run (fifos, tool output; the password file
# exists there only for an instant, see write_passfile). It lives in a
# private runtime directory: PF_RUNTIME_DIR, else XDG_RUNTIME_DIR, else
# /dev/shm (memory, never on disk), else TMPDIR. Directories of this tool
# family left by runs that died (SIGKILL) are removed at start.
PF_TMP=
pf_runtime_base() {
  local d
  for d in "${PF_RUNTIME_DIR:-}" "${XDG_RUNTIME_DIR:-}" /dev/shm "${TMPDIR:-/tmp}"; do
    [[ -n $d && -d $d && -w $d && -x $d ]] && { printf '%s' "$d"; return 0; }
  done
  printf '/tmp'
}
make_tmp() {
  local base d pid
  base=$(pf_runtime_base)
  for d in "$base"/pf-backup.* "$base"/pf-restore.* "$base"/pf-drill.*; do
    [[ -d $d && ! -L $d && -O $d ]] || continue
    pid=${d##*/}
    pid=${pid#pf-*.}
    pid=${pid%%.*}
    [[ $pid =~ ^[0-9]+$ ]] || continue
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -rf -- "$d" 2>/dev/null && log "removed stale temporary directory $d of a run that died"
    fi
  done
  PF_TMP=$(mktemp -d "$base/$PF_PROG.$$.XXXXXXXX") || die "$EX_CONFIG" "cannot create a temporary directory in $base"
  chmod 700 "$PF_TMP"
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
  unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE
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
      sslcrldir) export PGSSLCRLDIR=$val ;;
      sslsni) export PGSSLSNI=$val ;;
      sslcompression) export PGSSLCOMPRESSION=$val ;;
      ssl_min_protocol_version) export PGSSLMINPROTOCOLVERSION=$val ;;
      ssl_max_protocol_version) export PGSSLMAXPROTOCOLVERSION=$val ;;
      requirepeer) export PGREQUIREPEER=$val ;;
      gssencmode) export PGGSSENCMODE=$val ;;
      gsslib) export PGGSSLIB=$val ;;
      krbsrvname) export PGKRBSRVNAME=$val ;;
      channel_binding) export PGCHANNELBINDING=$val ;;
      connect_timeout) export PGCONNECT_TIMEOUT=$val ;;
      client_encoding) export PGCLIENTENCODING=$val ;;
      application_name) export PGAPPNAME=$val ;;
      options) export PGOPTIONS=$val ;;
      target_session_attrs) export PGTARGETSESSIONATTRS=$val ;;
      load_balance_hosts) export PGLOADBALANCEHOSTS=$val ;;
      # valid libpq parameters without an environment variable: passed in
      # every connection string (never secret, so fine on a command line)
      keepalives | keepalives_idle | keepalives_interval | keepalives_count | tcp_user_timeout | \
        fallback_application_name | requiressl | gssdelegation | require_auth | sslcertmode)
        # shellcheck disable=SC2089 # a libpq connection string, not shell words
        PF_CONNINFO_EXTRA+=" $key='$(conninfo_quote "$val")'"
        ;;
      sslpassword) die "$EX_CONFIG" "DATABASE_URL: sslpassword is not supported (it would appear on a command line); use an unencrypted key file with mode 0600" ;;
      replication | service) die "$EX_CONFIG" "DATABASE_URL: parameter '$key' is not supported" ;;
      *) die "$EX_CONFIG" "DATABASE_URL: unknown parameter '$key'" ;;
    esac
  done
  # shellcheck disable=SC2090
  export PF_CONNINFO_EXTRA

  if ((have_pw)); then
    write_passfile "$password"
  fi
}

conninfo_quote() {
  local v=$1
  v=${v//\\/\\\\}
  v=${v//\'/\\\'}
  printf '%s' "$v"
}

# A libpq connection string that selects a database name (empty: libpq's
# default) plus the URL parameters that have no environment variable;
# everything else (host, port, user, password file, sslmode...) comes from
# the PG* environment. Quoting per libpq: single quotes, \ and ' escaped.
dbname_conninfo() {
  printf "dbname='%s'%s" "$(conninfo_quote "$1")" "${PF_CONNINFO_EXTRA:-}"
}

# Write a private password file (any host/port/db/user -> password), open it
# on a descriptor and delete it at once: libpq reads it as /dev/fd/N (children
# inherit the descriptor), and no password file exists on any disk once the
# last process of this run is gone, however it ended.
PF_PASS_FD=
write_passfile() {
  local pw=$1
  [[ $pw == *$'\n'* ]] && die "$EX_CONFIG" "passwords containing a newline are not supported"
  pw=${pw//\\/\\\\}
  pw=${pw//:/\\:}
  local f=$PF_TMP/pgpass
  (umask 077 && printf '*:*:*:*:%s\n' "$pw" >"$f") || die "$EX_CONFIG" "cannot write the private password file"
  chmod 600 "$f"
  exec {PF_PASS_FD}<"$f"
  rm -f -- "$f"
  export PGPASSFILE=/dev/fd/$PF_PASS_FD
}

# Connection from DATABASE_URL if set, else the standard PG* variables and
# ~/.pgpass (libpq's own rules). A PGPASSWORD from the environment is moved
# into the private password file too, so no child process inherits it.
# Every session of the tools runs with statement_timeout = 0 and
# idle_in_transaction_session_timeout = 0 (database- or role-level settings
# must not break a backup or restore) and lock_timeout = LOCK_MS (no session
# waits for a lock longer than that).
setup_connection() {
  local lock_ms=${1:-30000}
  PF_CONNINFO_EXTRA=${PF_CONNINFO_EXTRA:-}
  if [[ -n ${DATABASE_URL:-} ]]; then
    PF_CONNINFO_EXTRA=
    parse_database_url "$DATABASE_URL"
  elif [[ -n ${PGPASSWORD:-} ]]; then
    PF_SECRETS+=("$PGPASSWORD")
    write_passfile "$PGPASSWORD"
  fi
  unset DATABASE_URL PGPASSWORD
  # An unreachable server must fail, not hang.
  export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}
  export PGAPPNAME=${PGAPPNAME:-$PF_PROG}
  local opts="-c statement_timeout=0 -c idle_in_transaction_session_timeout=0 -c lock_timeout=$lock_ms"
  export PGOPTIONS="${PGOPTIONS:+$PGOPTIONS }$opts"
  if [[ -n ${PF_PG_BINDIR:-} ]]; then
    PATH=$PF_PG_BINDIR:$PATH
  fi
}

# host:port of the server as this run addresses it (recorded in manifests,
# with the server's system identifier, to tell servers apart).
conn_server() {
  printf '%s:%s' "${PGHOST:-${PGHOSTADDR:-local}}" "${PGPORT:-5432}"
}

# manifest_fields FILE: the manifest's database, system_identifier and
# server_address (escaped, as written) into MF_DB, MF_SYSID, MF_ADDR, and
# created_at into MF_CREATED; fails when the file cannot be read. Manifests
# of older versions have no server fields (empty).
# shellcheck disable=SC2034 # read by the tools
MF_DB='' MF_SYSID='' MF_ADDR='' MF_CREATED=''
# shellcheck disable=SC2034
manifest_fields() {
  local key value
  MF_DB='' MF_SYSID='' MF_ADDR='' MF_CREATED=''
  [[ -f $1 && -r $1 ]] || return 1
  while IFS=$'\t' read -r key value; do
    case $key in
      database) MF_DB=$value ;;
      system_identifier) MF_SYSID=$value ;;
      server_address) MF_ADDR=$value ;;
      created_at) MF_CREATED=$value ;;
      table) break ;;
    esac
  done <"$1"
}

# user@host:port for logs (never a password).
conn_desc() {
  printf '%s@%s:%s' "${PGUSER:-$(id -un)}" "${PGHOST:-local socket}" "${PGPORT:-5432}"
}

# ---- Prometheus metrics (node-exporter textfile format) ----------------------------
# metrics_update FILE DATABASE "name value"...: set these samples, labelled
# {database="DATABASE"}; metrics_write FILE LABELS "name value"... does the
# same with any label set (LABELS already rendered: a="x",b="y"). The file is
# shared: this tool family owns only the metric families named in
# PF_METRIC_HELP; every other line (other tools' samples, HELP/TYPE, comments)
# is kept byte for byte and in its order, and the owned families follow,
# regenerated (HELP, TYPE gauge, samples sorted). Written atomically
# (temporary file in the same directory, then rename) under a lock
# (FILE.lock).
declare -A PF_METRIC_HELP=(
  [pf_backup_last_success_timestamp_seconds]='Unix time of the last successful pf-backup run.'
  [pf_backup_last_failure_timestamp_seconds]='Unix time of the last failed pf-backup run.'
  [pf_backup_last_exit_code]='Exit code of the last pf-backup run (0 = success, see docs/backup.md).'
  [pf_backup_duration_seconds]='Duration of the last successful pf-backup run.'
  [pf_backup_size_bytes]='Size of the dump written by the last successful pf-backup run.'
  [pf_backup_drill_last_success_timestamp_seconds]='Unix time of the last successful restore drill.'
  [pf_backup_drill_last_failure_timestamp_seconds]='Unix time of the last failed restore drill.'
  [pf_backup_drill_last_exit_code]='Exit code of the last restore drill (0 = success).'
  [pf_backup_drill_restore_duration_seconds]='Duration of the restore (pf-restore, validation included) in the last successful drill.'
  [pf_backup_drill_duration_seconds]='Duration of the last successful drill (restore, amcheck, drop).'
  [pf_backup_drill_backup_age_seconds]='Age of the backup restored by the last successful drill, at drill time.'
  [pf_pgbackrest_backup_last_completion_timestamp_seconds]='Unix time at which the newest pgBackRest backup of this type finished (0: none in the repository).'
  [pf_pgbackrest_backup_last_size_bytes]='Database size of the newest pgBackRest backup of this type.'
  [pf_pgbackrest_repo_backup_size_bytes]='Bytes the backups of the stanza take in the repository (sum of each backup delta, WAL not included).'
  [pf_pgbackrest_wal_archive_lag_segments]='Complete WAL segments of the server not yet in the pgBackRest archive.'
  [pf_pgbackrest_wal_archive_last_segment_info]='Newest WAL segment in the pgBackRest archive (label segment).'
  [pf_pgbackrest_wal_archive_last_success_timestamp_seconds]='Unix time of the last successful archive_command (pg_stat_archiver.last_archived_time; 0: never).'
  [pf_pgbackrest_wal_archive_failures]='pg_stat_archiver.failed_count: failed archive_command runs since the statistics were reset.'
  [pf_pgbackrest_stanza_status_code]='pgBackRest stanza status code from pgbackrest info (0 = ok).'
  [pf_pgbackrest_metrics_last_success_timestamp_seconds]='Unix time at which pf-pgbackrest metrics last read pgbackrest info and the server.'
  [pf_pgbackrest_drill_last_success_timestamp_seconds]='Unix time of the last successful pgBackRest restore drill.'
  [pf_pgbackrest_drill_last_failure_timestamp_seconds]='Unix time of the last failed pgBackRest restore drill.'
  [pf_pgbackrest_drill_last_exit_code]='Exit code of the last pgBackRest restore drill (0 = success).'
  [pf_pgbackrest_drill_rto_seconds]='Recovery time of the last successful drill: restore, WAL replay and promotion until the scratch cluster accepted writes.'
  [pf_pgbackrest_drill_rpo_seconds]='Recovery point of the last successful drill: target (or drill start) minus the last replayed commit.'
)
prom_label_escape() {
  local v=$1
  v=${v//\\/\\\\}
  v=${v//\"/\\\"}
  v=${v//$'\n'/\\n}
  printf '%s' "$v"
}
metrics_update() {
  local file=$1 lbl
  lbl=$(prom_label_escape "$2")
  shift 2
  metrics_write "$file" "database=\"$lbl\"" "$@"
}
# the metric name of a sample line, or of a HELP/TYPE line
metric_name_of() {
  local -n _n=$1
  local line=$2
  if [[ $line == '# HELP '* || $line == '# TYPE '* ]]; then
    line=${line:7}
  fi
  _n=${line%%[\{ ]*}
}
metrics_write() {
  local file=$1 labels=$2 pair key line name mfd tmp
  shift 2
  local dirn=${file%/*}
  [[ $dirn == "$file" ]] && dirn=.
  [[ -d $dirn && -w $dirn ]] || return 1
  exec {mfd}>>"$file.lock" || return 1
  if ! flock -w 10 "$mfd"; then
    exec {mfd}>&-
    return 1
  fi
  local -A val=()
  local -a others=()
  if [[ -f $file ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      metric_name_of name "$line"
      if [[ -n $name && -n ${PF_METRIC_HELP[$name]+x} ]]; then
        # an owned family: its samples are kept by key, HELP/TYPE regenerated
        [[ $line == \#* ]] && continue
        val[${line% *}]=${line##* }
      else
        others+=("$line")
      fi
    done <"$file"
  fi
  # the samples of these families with this label set (and more labels) are
  # replaced as a whole: a label value that changed (an info metric's
  # segment) leaves no stale sample behind
  local n k
  local -A fam=()
  for pair in "$@"; do
    n=${pair%% *}
    fam[${n%%\{*}]=1
  done
  for k in "${!val[@]}"; do
    n=${k%%\{*}
    if [[ -n ${fam[$n]:-} && ( ${k#"$n"} == "{$labels}" || ${k#"$n"} == "{$labels,"* ) ]]; then
      unset 'val[$k]'
    fi
  done
  for pair in "$@"; do
    # "name value" or "name{more="labels"} value"
    n=${pair%% *}
    if [[ $n == *\{* ]]; then
      val["${n%%\{*}{$labels,${n#*\{}"]=${pair#* }
    else
      val["$n{$labels}"]=${pair#* }
    fi
  done
  tmp=$(mktemp "$dirn/.${file##*/}.tmp.XXXXXX") || { exec {mfd}>&-; return 1; }
  local last='' ok=1
  {
    ((${#others[@]} == 0)) || printf '%s\n' "${others[@]}"
    while IFS= read -r key; do
      name=${key%%\{*}
      if [[ $name != "$last" ]]; then
        printf '# HELP %s %s\n# TYPE %s gauge\n' "$name" "${PF_METRIC_HELP[$name]}" "$name"
        last=$name
      fi
      printf '%s %s\n' "$key" "${val[$key]}"
    done < <(((${#val[@]} == 0)) || printf '%s\n' "${!val[@]}" | sort)
  } >"$tmp" 2>/dev/null || ok=0
  chmod 644 "$tmp" 2>/dev/null
  if ((ok)) && mv -f -- "$tmp" "$file" 2>/dev/null; then
    exec {mfd}>&-
    return 0
  fi
  rm -f -- "$tmp"
  exec {mfd}>&-
  return 1
}

# ---- row counts --------------------------------------------------------------------
# One line per user table: "<exact row count>\t<schema>.<table>" (quoted
# identifiers, with backslash, tab, CR and newline escaped so each table is
# exactly one line), ordered by name. ONLY: each partition / inheritance child
# is counted once, on its own line. Tables that belong to an extension are
# left out (CREATE EXTENSION recreates them). The counts come from one query,
# so they share that query's snapshot (the whole transaction's in pf-backup).
# shellcheck disable=SC2034 # used by the tools
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
