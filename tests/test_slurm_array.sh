# test_slurm_array.sh - tools/slurm-array.sh against a fake sbatch on PATH: the
# --dry-run commands, the two submissions (the shards as an array with one GPU
# each, the merge after them with afterok on the id the first sbatch printed),
# and the jobs' shell commands run as Slurm would run them (a fake evalctl
# prints its arguments), so the shard index and the quoting are checked too.
. tests/lib.sh
S=tools/slurm-array.sh
CFG=configs/ruler4k.ini
mkdir -p "$T_TMP/bin"
# the fake sbatch: records its arguments (one a line, then "--"), prints a job id
cat >"$T_TMP/bin/sbatch" <<'EOF'
#!/usr/bin/env bash
n=$(cat "$SB_LOG.n" 2>/dev/null || echo 0)
echo $((n + 1)) >"$SB_LOG.n"
printf '%s\n' "$@" -- >>"$SB_LOG"
if [ "$n" = 0 ]; then echo "4242;cluster"; else echo 4243; fi
EOF
cat >"$T_TMP/bin/evalctl" <<'EOF'
#!/usr/bin/env bash
printf '[%s]' "$@"
echo
EOF
chmod +x "$T_TMP/bin/sbatch" "$T_TMP/bin/evalctl"
export SB_LOG=$T_TMP/sb.log
FAKE=$T_TMP/bin/evalctl

# --dry-run: the two commands, nothing submitted
out=$(PATH=$T_TMP/bin:$PATH bash $S --config $CFG --shards 4 --partition gpu --time 01:00:00 \
    --evalctl "$FAKE" --dry-run 2>&1)
[ $? -eq 0 ] && t_ok || t_bad "dry-run failed: $out"
[ ! -e "$SB_LOG" ] && t_ok || t_bad "dry-run called sbatch"
want="sbatch --parsable --job-name=evalctl-ruler4k --array=0-3 --gres=gpu:1 --time=01:00:00 --partition=gpu --output=slurm-logs/ruler4k-shard-%a-of-4-%A.out --wrap=$FAKE\\ run\\ --config\\ configs/ruler4k.ini\\ --shard\\ \\\$SLURM_ARRAY_TASK_ID/4"
[ "$(echo "$out" | sed -n 2p)" = "$want" ] && t_ok || t_bad "dry-run array line: $(echo "$out" | sed -n 2p)"
want="sbatch --parsable --dependency=afterok:ARRAY_JOB_ID --job-name=evalctl-ruler4k-merge --time=00:30:00 --partition=gpu --output=slurm-logs/ruler4k-merge-%j.out --wrap=$FAKE\\ merge\\ results/ruler4k"
[ "$(echo "$out" | sed -n 3p)" = "$want" ] && t_ok || t_bad "dry-run merge line: $(echo "$out" | sed -n 3p)"
# the printed commands are shell: run them with the fake sbatch
(cd "$T_TMP" && echo "$out" | sed -n 2p | PATH=$T_TMP/bin:$PATH bash) >/dev/null && grep -qx -- '--array=0-3' "$SB_LOG" && t_ok ||
    t_bad "the dry-run line does not run"
rm -f "$SB_LOG" "$SB_LOG.n"

# a real submission: an output_dir with a space and a --set, an extra sbatch argument
out=$(cd "$T_TMP" && PATH=$T_TMP/bin:$PATH bash "$OLDPWD/$S" --config "$OLDPWD/$CFG" --shards 3 --cpus 8 \
    --set "run.output_dir=/data/my runs" --set benchmark.samples=7 --sbatch-arg --account=lab --evalctl "$FAKE" 2>&1)
[ $? -eq 0 ] && t_ok || t_bad "submit failed: $out"
echo "$out" | grep -q 'shards: job 4242 (array 0-2, gpu:1 each); merge of /data/my runs/ruler4k: job 4243' && t_ok ||
    t_bad "submit message: $out"
[ -d "$T_TMP/slurm-logs" ] && t_ok || t_bad "log directory not made"
# the calls, split at "--"
awk -v d="$T_TMP/call" 'BEGIN { n = 1 } $0 == "--" { n++; next } { print > (d n) }' "$SB_LOG"
for a in --parsable --array=0-2 --gres=gpu:1 --cpus-per-task=8 --account=lab; do
    grep -qx -- "$a" "$T_TMP/call1" && t_ok || t_bad "shard job lacks $a: $(cat "$T_TMP/call1")"
done
for a in --parsable --dependency=afterok:4242 --account=lab --time=00:30:00; do
    grep -qx -- "$a" "$T_TMP/call2" && t_ok || t_bad "merge job lacks $a: $(cat "$T_TMP/call2")"
done
grep -q -- '--gres\|--array' "$T_TMP/call2" && t_bad "the merge job asks for a GPU or an array" || t_ok
[ ! -e "$T_TMP/call3" ] && t_ok || t_bad "more than two sbatch calls"
# the jobs' commands as Slurm runs them (sh -c of --wrap, with the array index set)
wrap1=$(sed -n 's/^--wrap=//p' "$T_TMP/call1")
wrap2=$(sed -n 's/^--wrap=//p' "$T_TMP/call2")
got=$(SLURM_ARRAY_TASK_ID=2 sh -c "$wrap1")
[ "$got" = "[run][--config][$PWD/$CFG][--set][run.output_dir=/data/my runs][--set][benchmark.samples=7][--shard][2/3]" ] &&
    t_ok || t_bad "shard command: $got"
got=$(sh -c "$wrap2")
[ "$got" = "[merge][/data/my runs/ruler4k]" ] && t_ok || t_bad "merge command: $got"

# a run name and output_dir read from the config, quoted and commented
printf '[run]\nname = "my run" ; the name\nmodel = m\noutput_dir = out # here\n' >"$T_TMP/c.ini"
out=$(bash $S --config "$T_TMP/c.ini" --shards 2 --evalctl "$FAKE" --dry-run | sed -n 1p)
[ "$out" = "# run directory: out/my run; ARRAY_JOB_ID is the id the first sbatch prints" ] && t_ok || t_bad "ini: $out"

# errors: usage, exit 2, one message
bash $S --shards 2 >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "no --config"
bash $S --config $CFG --shards 0 >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "--shards 0"
bash $S --config $CFG --shards x >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "--shards x"
bash $S --config "$T_TMP/none.ini" --shards 2 >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "missing config"
bash $S --config $CFG --shards 2 --set nodot >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "bad --set"
bash $S --config $CFG --shards 2 --bogus >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "unknown option"
# an sbatch that prints no job id stops before the merge is submitted
printf '#!/bin/sh\necho "sbatch: error: invalid partition"\n' >"$T_TMP/bin/sbatch"
out=$(cd "$T_TMP" && PATH=$T_TMP/bin:$PATH bash "$OLDPWD/$S" --config "$OLDPWD/$CFG" --shards 2 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "not a job id" && t_ok || t_bad "bad sbatch output: $out"

done_tests slurm_array
