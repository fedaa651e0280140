#!/usr/bin/env bash
# slurm-array.sh - runs an evalctl config on a Slurm cluster: N shards as one
# job array (one GPU each, `evalctl run --shard $SLURM_ARRAY_TASK_ID/N`), then
# a merge job that starts only when every shard succeeded
# (`sbatch --dependency=afterok:ARRAY_JOB_ID`, `evalctl merge RUN_DIR`).
#
#   tools/slurm-array.sh --config configs/ruler131k.ini --shards 8 \
#       --partition gpu --time 12:00:00
#
# The jobs run in the directory this script is called from, which must be on a
# file system every node sees (the shards append to files of one run
# directory). A failed or cancelled shard is resumed by submitting the same
# command again: each shard redoes only what its file lacks.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tools/slurm-array.sh --config FILE --shards N [options]

  --config FILE        the evalctl run config (configs/*.ini)
  --shards N           number of shards = array tasks (1..10000)
  --partition P        Slurm partition for the shards and the merge
  --time T             time limit of each shard (sbatch --time, e.g. 12:00:00)
  --merge-time T       time limit of the merge job (default 00:30:00)
  --gres SPEC          resources of each shard (default gpu:1)
  --cpus N             CPUs of each shard (sbatch --cpus-per-task)
  --set S.K=V          passed to `evalctl run --set` (repeatable)
  --sbatch-arg ARG     extra sbatch argument for both jobs, e.g. --account=x (repeatable)
  --evalctl PATH       the evalctl binary (default: ./evalctl of this repository)
  --log-dir DIR        job logs (default slurm-logs; created)
  --dry-run            print the two sbatch commands instead of submitting
  -h, --help           this text
EOF
}

die() {
    echo "slurm-array: $*" >&2
    exit 2
}

config= shards= partition= time= merge_time=00:30:00 gres=gpu:1 cpus= log_dir=slurm-logs dry=0
evalctl=$(cd "$(dirname "$0")/.." && pwd)/evalctl
sets=()
extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --config | --shards | --partition | --time | --merge-time | --gres | --cpus | --set | --sbatch-arg | --evalctl | --log-dir)
        [ $# -ge 2 ] || die "$1 needs a value"
        case $1 in
        --config) config=$2 ;;
        --shards) shards=$2 ;;
        --partition) partition=$2 ;;
        --time) time=$2 ;;
        --merge-time) merge_time=$2 ;;
        --gres) gres=$2 ;;
        --cpus) cpus=$2 ;;
        --set) sets+=("$2") ;;
        --sbatch-arg) extra+=("$2") ;;
        --evalctl) evalctl=$2 ;;
        --log-dir) log_dir=$2 ;;
        esac
        shift 2
        ;;
    --dry-run) dry=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
    esac
done
[ -n "$config" ] || { usage >&2; die "--config is required"; }
[ -f "$config" ] || die "$config: no such file"
[[ $shards =~ ^[1-9][0-9]*$ ]] && [ "$shards" -le 10000 ] || die "--shards wants a whole number 1..10000, not '$shards'"
[ -z "$cpus" ] || [[ $cpus =~ ^[1-9][0-9]*$ ]] || die "--cpus wants a whole number, not '$cpus'"
for s in "${sets[@]+"${sets[@]}"}"; do
    [[ $s == *.*=* ]] || die "--set wants SECTION.KEY=VALUE, not '$s'"
done

# [section] key of the INI config (the dialect of src/ini.h: comments start
# with ; or #, a value may be "quoted"), the last --set for it winning.
ini_get() {
    local sec=$1 key=$2 v s
    v=$(awk -v sec="$sec" -v key="$key" '
        /^[ \t]*[;#]/ { next }
        /^[ \t]*\[/ { s = $0; gsub(/^[ \t]*\[|\][ \t]*$/, "", s); cur = s; next }
        cur == sec {
            i = index($0, "="); if (!i) next
            k = substr($0, 1, i - 1); gsub(/^[ \t]+|[ \t]+$/, "", k)
            if (k != key) next
            v = substr($0, i + 1); gsub(/^[ \t]+|[ \t\r]+$/, "", v)
            if (v ~ /^"/) { sub(/^"/, "", v); sub(/"[ \t]*([;#].*)?$/, "", v); gsub(/\\"/, "\"", v); gsub(/\\\\/, "\\", v) }
            else sub(/(^|[ \t]+)[;#].*$/, "", v)
            print v; exit
        }' "$config")
    for s in "${sets[@]+"${sets[@]}"}"; do
        [ "${s%%=*}" = "$sec.$key" ] && v=${s#*=}
    done
    printf '%s' "$v"
}
name=$(ini_get run name)
[ -n "$name" ] || die "$config: no [run] name"
outdir=$(ini_get run output_dir)
run_dir=${outdir:-results}/$name

q() { printf '%q' "$1"; }
run_cmd="$(q "$evalctl") run --config $(q "$config")"
for s in "${sets[@]+"${sets[@]}"}"; do run_cmd+=" --set $(q "$s")"; done
run_cmd+=" --shard \$SLURM_ARRAY_TASK_ID/$shards"
merge_cmd="$(q "$evalctl") merge $(q "$run_dir")"

common=()
[ -n "$partition" ] && common+=("--partition=$partition")
common+=("${extra[@]+"${extra[@]}"}")
array=(sbatch --parsable "--job-name=evalctl-$name" "--array=0-$((shards - 1))" "--gres=$gres")
[ -n "$cpus" ] && array+=("--cpus-per-task=$cpus")
[ -n "$time" ] && array+=("--time=$time")
array+=("${common[@]+"${common[@]}"}" "--output=$log_dir/$name-shard-%a-of-$shards-%A.out" "--wrap=$run_cmd")
merge_args=("--job-name=evalctl-$name-merge" "--time=$merge_time" "${common[@]+"${common[@]}"}"
            "--output=$log_dir/$name-merge-%j.out" "--wrap=$merge_cmd")

show() {
    local a out=
    for a in "$@"; do out+="${out:+ }$(q "$a")"; done
    printf '%s\n' "$out"
}

if [ "$dry" = 1 ]; then
    echo "# run directory: $run_dir; ARRAY_JOB_ID is the id the first sbatch prints"
    show "${array[@]}"
    show sbatch --parsable "--dependency=afterok:ARRAY_JOB_ID" "${merge_args[@]}"
    exit 0
fi

command -v sbatch >/dev/null || die "sbatch not found (is this a Slurm login node?)"
mkdir -p "$log_dir"
jid=$("${array[@]}") || die "sbatch of the shards failed"
jid=${jid%%;*} # --parsable prints "jobid" or "jobid;cluster"
[[ $jid =~ ^[0-9]+$ ]] || die "sbatch printed '$jid', not a job id"
mid=$(sbatch --parsable "--dependency=afterok:$jid" "${merge_args[@]}") || die "sbatch of the merge failed (the shards, job $jid, are queued)"
mid=${mid%%;*}
echo "slurm-array: shards: job $jid (array 0-$((shards - 1)), $gres each); merge of $run_dir: job $mid, after all shards succeed"
echo "slurm-array: logs in $log_dir/; then \`make reproduce-tables\` (or \`$evalctl tables $run_dir\`)"
