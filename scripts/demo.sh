#!/usr/bin/env bash
# make demo: build a snapshot from the recorded arXiv responses (or a small live harvest), then query it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
FIXTURES=${FIXTURES:-../shared/fixtures}

if [ -d "$FIXTURES/arxiv_oai" ]; then
  echo "Building from the recorded arXiv responses in $FIXTURES/arxiv_oai" >&2
  snapshot=$($BIN/commons build --from "$FIXTURES/arxiv_oai" | tail -n 1)
else
  since=$(date -u -d '2 days ago' +%F 2>/dev/null || date -u -v-2d +%F)
  echo "No fixtures at $FIXTURES: a small live harvest of arXiv cs.AI-adjacent records since $since" >&2
  snapshot=$($BIN/commons build --live --source arxiv --set cs --since "$since" | tail -n 1)
fi
if [ -d "$FIXTURES/eval_logs" ]; then
  # The logs come from MIT-licensed repositories (see the fixtures' MANIFEST.tsv): say so, and their
  # transcripts are published too.
  echo "Adding the recorded evaluation results in $FIXTURES/eval_logs" >&2
  snapshot=$($BIN/commons build --from "$FIXTURES/eval_logs" --license MIT | tail -n 1)
fi
echo "Snapshot: $snapshot"
echo
echo "== Papers by primary category"
$BIN/commons query --snapshot "$snapshot" \
  "SELECT primary_category, count(*) AS papers FROM papers GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 8"
echo
echo "== Most recent papers"
$BIN/commons query --snapshot "$snapshot" \
  "SELECT work_id, created, len(authors) AS n_authors, title FROM papers ORDER BY created DESC NULLS LAST, work_id LIMIT 5"
echo
echo "== Licenses"
$BIN/commons query --snapshot "$snapshot" \
  "SELECT license, text_redistributable, count(*) AS papers FROM papers GROUP BY ALL ORDER BY 3 DESC"
echo
echo "== What was read, and what failed"
$BIN/commons query --snapshot "$snapshot" \
  "SELECT status, count(*) AS documents, sum(records) AS records FROM fetches GROUP BY 1 ORDER BY 1"
if [ -d "$FIXTURES/eval_logs" ]; then
  echo
  echo "== Evaluation results by framework"
  $BIN/commons query --snapshot "$snapshot" \
    "SELECT framework, count(DISTINCT run_id) AS runs, count(*) AS results, count(DISTINCT model_source_name) AS models FROM results GROUP BY 1 ORDER BY 1"
  echo
  echo "== GPQA diamond on Epoch's Benchmarking Hub: best runs"
  $BIN/commons query --snapshot "$snapshot" \
    "SELECT model_source_name, scorer, value, stderr, run_date FROM results WHERE task = 'GPQA diamond' ORDER BY value DESC, run_id LIMIT 5"
  echo
  echo "== Inspect transcripts"
  $BIN/commons query --snapshot "$snapshot" \
    "SELECT task, sample_id, epoch, left(output_text, 40) AS output, scores[1].value AS score FROM result_samples ORDER BY run_id, sample_id LIMIT 5"
fi
