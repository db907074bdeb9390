# Run the k6 script of each target against staging, then hold the result to the baseline: k6's
# own thresholds are the SLO (latency p95, error budget); the baseline check catches a
# regression that still meets the SLO (p95 more than REGRESSION_PERCENT above the baseline, or
# an error rate above it). A service repository's own loadtest/baseline.json (measured, from a
# previous run's summary) wins over the bundle's, which is seeded from the SLOs.
set -euo pipefail
baseline="$PLATFORM_DIR/$BUNDLE_DIR/loadtest/baseline.json"
if [ -f "$SERVICE_DIR/loadtest/baseline.json" ]; then
  baseline="$SERVICE_DIR/loadtest/baseline.json"
fi
echo "baseline: $baseline"
mkdir -p "$RUNNER_TEMP/loadtest"
read -r -a targets <<<"$TARGETS"
for target in "${targets[@]}"; do
  summary="$RUNNER_TEMP/loadtest/$target.json"
  k6 run --quiet --summary-export "$summary" "$PLATFORM_DIR/$BUNDLE_DIR/loadtest/$target.js"
  p95=$(jq -r '.metrics.http_req_duration["p(95)"]' "$summary")
  errors=$(jq -r '.metrics.http_req_failed.value // 0' "$summary")
  base_p95=$(jq -r --arg t "$target" '.services[$t].p95Ms // "null"' "$baseline")
  base_errors=$(jq -r --arg t "$target" '.services[$t].errorRate // "null"' "$baseline")
  echo "$target: p95 ${p95} ms (baseline ${base_p95}), error rate ${errors} (baseline ${base_errors})"
  if [ "$base_p95" != null ] && jq -e -n --argjson p "$p95" --argjson b "$base_p95" --argjson r "$REGRESSION_PERCENT" \
    '$p > $b * (1 + $r / 100)' >/dev/null; then
    echo "::error::$target: p95 ${p95} ms is more than ${REGRESSION_PERCENT}% above the baseline ${base_p95} ms"
    exit 1
  fi
  if [ "$base_errors" != null ] && jq -e -n --argjson e "$errors" --argjson b "$base_errors" '$e > $b' >/dev/null; then
    echo "::error::$target: error rate ${errors} is above the baseline ${base_errors}"
    exit 1
  fi
done
