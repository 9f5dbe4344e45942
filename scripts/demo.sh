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
