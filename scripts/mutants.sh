#!/usr/bin/env bash
# Mutation testing of the core (issue 18), outside CI: every mutant of
# `core/src` that builds must make a core test fail. Settings are in
# `.cargo/mutants.toml`; results go to `.cache/mutants/mutants.out/`
# (`missed.txt` is what docs/model.md "Mutation score" accounts for).
#
#   scripts/mutants.sh            # the whole run (about 1,800 mutants;
#                                 # 1.5 h on 2 idle cores)
#   scripts/mutants.sh --iterate  # only what was missed or is new since
#
# Extra arguments go to cargo-mutants (e.g. `--file core/src/mirror.rs`).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants@27.1.0
mkdir -p .cache/mutants
# cargo-mutants has no overall limit of its own.
status=0
# Debug info off: each mutant relinks every test binary, and the line tables
# are most of the link time.
CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0 \
  timeout "${MUTANTS_TIMEOUT:-5h}" cargo mutants -p streamable-core \
  -j "${JOBS:-2}" --timeout 40 --output .cache/mutants "$@" || status=$?
out=.cache/mutants/mutants.out
if [[ -f $out/caught.txt ]]; then
  caught=$(wc -l <"$out/caught.txt")
  missed=$(wc -l <"$out/missed.txt")
  timeout_n=$(wc -l <"$out/timeout.txt")
  unviable=$(wc -l <"$out/unviable.txt")
  viable=$((caught + missed + timeout_n))
  echo "caught $caught, missed $missed, timed out $timeout_n, unviable $unviable"
  if ((viable > 0)); then
    echo "score: $(((caught + timeout_n) * 1000 / viable / 10)).$(((caught + timeout_n) * 1000 / viable % 10)) % of $viable viable mutants"
  fi
fi
# cargo-mutants exits 2 when mutants were missed, 3 on timeouts.
exit "$status"
