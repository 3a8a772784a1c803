#!/usr/bin/env bash
# Old-vs-new speed of one change on a noisy machine: runs two builds of the same benchmark command
# alternately, PAIRS times, and prints each pair and the median of the per-pair new/old ratios.
#
#   bench/ab_compare.sh OLD_BINARY NEW_BINARY PAIRS COMMAND...
#
# COMMAND is a shell command line in which {} stands for the binary; its first output line that
# starts with "BM_" (Google Benchmark) or with a planner name (lucid plan-bench's table) gives the
# time, its second column. Examples (build the old binary first and copy it aside):
#
#   bench/ab_compare.sh /tmp/bench_old build/bench/agents/bench_agents 16 \
#       "LUCID_THREADS=2 {} --benchmark_filter='BM_Tdmpc2Update/5/' --benchmark_min_time=0.8"
#   bench/ab_compare.sh /tmp/lucid_old build/apps/lucid 8 \
#       "{} plan-bench model_size=5 planner=mppi obs_dim=24 action_dim=6 calls=15 threads=2"
#
# Why pairs: on the project's shared 2-core VM the same binary's time moves by 1.5-2x within
# minutes (one GEMM call: 227 GFLOP/s at best, 94-123 on average over 25 consecutive calls), so
# two separate runs compare the machine's moods, not the code. Within one pair the two runs are
# seconds apart; the median ratio over many pairs cancels most of the drift. A change whose median
# ratio stays within ~3% of 1 over 16 pairs is below what this machine can show.
# PAUSE_PATTERN (optional) is a pgrep -f pattern of background jobs to SIGSTOP while it runs.
set -euo pipefail
[[ $# -ge 4 ]] || { sed -n '2,12p' "$0" >&2; exit 2; }
old="$1" new="$2" pairs="$3"
shift 3
cmd="$*"
for b in "$old" "$new"; do [[ -x "$b" ]] || { echo "not an executable: $b" >&2; exit 2; }; done
if [[ -n "${PAUSE_PATTERN:-}" ]]; then
  pkill -STOP -f "$PAUSE_PATTERN" || true
  trap 'pkill -CONT -f "$PAUSE_PATTERN" || true' EXIT
fi
time_of() {
  local line
  line="$(eval "${cmd//\{\}/$1}" 2>&1 | grep -E '^(BM_|mppi|cem|dream-mpc|grad-mpc|policy)' | head -1)"
  [[ -n "$line" ]] || { echo "no timing line from: ${cmd//\{\}/$1}" >&2; exit 1; }
  awk '{print $2}' <<<"$line"
}
ratios=()
for ((i = 1; i <= pairs; ++i)); do
  t_old="$(time_of "$old")"
  t_new="$(time_of "$new")"
  r="$(awk -v a="$t_old" -v b="$t_new" 'BEGIN{printf "%.4f", b / a}')"
  ratios+=("$r")
  printf 'pair %2d: old %s  new %s  new/old %s\n' "$i" "$t_old" "$t_new" "$r"
done
printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR] = $1} END {
  m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
  printf "median new/old over %d pairs: %.3f (range %.3f - %.3f)\n", NR, m, a[1], a[NR] }'
