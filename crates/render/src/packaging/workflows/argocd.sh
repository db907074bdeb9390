# Through Argo CD's REST API (no CLI to install): optionally start a sync of each Application to
# the given revision, then wait until every one reports that revision (or a later commit of
# main), Synced and Healthy. Staging syncs by itself (automated); production is synced here, by
# the job a reviewer approved.
set -euo pipefail
read -r -a apps <<<"$APPS"
api="https://${ARGOCD_SERVER}/api/v1/applications"
auth="Authorization: Bearer ${ARGOCD_AUTH_TOKEN}"
if [ "$SYNC" = true ]; then
  for app in "${apps[@]}"; do
    curl --fail-with-body --silent --show-error --header "$auth" --header 'Content-Type: application/json' \
      --data "{\"revision\":\"${REVISION}\",\"prune\":true}" "$api/$app/sync" >/dev/null
    echo "$app: sync to $REVISION started"
  done
fi
deadline=$((SECONDS + WAIT_SECONDS))
for app in "${apps[@]}"; do
  while true; do
    status=$(curl --fail --silent --show-error --header "$auth" "$api/$app?refresh=normal")
    revision=$(jq -r '.status.sync.revision // ""' <<<"$status")
    sync=$(jq -r '.status.sync.status // ""' <<<"$status")
    health=$(jq -r '.status.health.status // ""' <<<"$status")
    at_or_after=false
    if [ "$revision" = "$REVISION" ]; then
      at_or_after=true
    elif [ -n "$revision" ] && git -C "$PLATFORM_DIR" fetch --quiet origin main \
      && git -C "$PLATFORM_DIR" merge-base --is-ancestor "$REVISION" "$revision" 2>/dev/null; then
      at_or_after=true
    fi
    if [ "$at_or_after" = true ] && [ "$sync" = Synced ] && [ "$health" = Healthy ]; then
      echo "$app: Synced and Healthy at $revision"
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "::error::$app is $sync/$health at '$revision', not Synced and Healthy at $REVISION"
      exit 1
    fi
    sleep 15
  done
done
