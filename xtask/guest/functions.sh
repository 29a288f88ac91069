# Shell helpers sourced by every script the host runs in the guest.
# Background jobs live in $B: NAME.sh (the command), NAME.err (its stderr),
# NAME.rc (its exit status, written when it ends).
B=/run/lab/bg

# bg NAME SECS CMD...: runs CMD in the background, killed after SECS.
# Its stdin and stdout are /dev/null unless CMD redirects them; these
# helpers are available to it. It runs in
# its own process group (NAME.pid), so bg_kill can end all of it.
bg() {
    _n=$1 _t=$2
    shift 2
    mkdir -p "$B"
    rm -f "$B/$_n".*
    printf '. /lib/lab/functions.sh\n%s\n' "$*" >"$B/$_n.sh"
    (
        cut -d' ' -f1 /proc/uptime >"$B/$_n.t0"
        setsid sh -c 'echo $$ >"$1.pid"; exec timeout -s KILL "$2" sh "$1.sh"' - "$B/$_n" "$_t" 2>"$B/$_n.err"
        _rc=$?
        cut -d' ' -f1 /proc/uptime >"$B/$_n.t1"
        echo $_rc >"$B/$_n.rc.tmp"
        mv "$B/$_n.rc.tmp" "$B/$_n.rc"
    ) </dev/null >/dev/null 2>&1 &
}

# bg_kill NAME: kills job NAME's whole process group.
bg_kill() {
    wait_for "[ -s $B/$1.pid ]" 5 && kill -KILL -- "-$(cat "$B/$1.pid")" 2>/dev/null
    wait_for "[ -f $B/$1.rc ]" 5
}

# wait_for CONDITION SECS: evaluates CONDITION every 20 ms until it holds;
# fails after SECS seconds.
wait_for() {
    _end=$(($(date +%s) + $2 + 1))
    until eval "$1"; do
        [ "$(date +%s)" -lt "$_end" ] || return 1
        usleep 20000
    done
}

# bg_wait NAME SECS: waits for job NAME to end; prints its exit status and
# run time (seconds, from /proc/uptime) on one line, then its stderr.
bg_wait() {
    wait_for "[ -f $B/$1.rc ]" "$2" || {
        echo "lab: job $1 still running after $2 s" >&2
        return 124
    }
    echo "$(cat "$B/$1.rc") $(cat "$B/$1.t0") $(cat "$B/$1.t1")"
    cat "$B/$1.err"
}

# wait_text NAME REGEX SECS: waits until job NAME's stderr matches REGEX
# (case-insensitively; used to know that a listener is listening).
wait_text() {
    wait_for "grep -qiE '$2' $B/$1.err" "$3" || {
        echo "lab: job $1 did not print /$2/ within $3 s; its stderr:" >&2
        cat "$B/$1.err" >&2
        return 1
    }
}

# wait_size FILE BYTES SECS: waits until FILE holds at least BYTES bytes.
wait_size() {
    wait_for "[ \$(size $1 2>/dev/null || echo 0) -ge $2 ]" "$3"
}

# sha FILE: the SHA-256 of FILE, hex only.
sha() {
    sha256sum "$1" | cut -d' ' -f1
}

# size FILE: the size of FILE in bytes.
size() {
    wc -c <"$1" | tr -d ' '
}
