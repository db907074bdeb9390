# Set the image of one service in the platform spec and rebuild the bundle from it, then push
# the commit to main: staging's Argo CD syncs it (automated), production waits for a person.
# KIND names the commit (`deploy(<service>): …` for a new image, `rollback(<service>): …` for
# the image before a bump): the rollback workflow finds the last deploy by that subject.
# The spec holds the digest once per workload that runs the image; yq edits the YAML tree (and
# keeps the spec's comments), never the text. Another service's bump may land first: on a
# rejected push the edit and the build are redone on the new main, never merged by hand.
set -euo pipefail
case "$KIND" in
  deploy | rollback) ;;
  *)
    echo "::error::KIND '$KIND' is neither deploy nor rollback"
    exit 1
    ;;
esac
if [[ ! "$DIGEST" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "::error::digest '$DIGEST' is not sha256:<64 hex>"
  exit 1
fi
if [[ ! "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
  echo "::error::version '$VERSION' is not a valid image tag"
  exit 1
fi
# Installed by the job's yq step (the version data/github-actions.json pins).
yq="$RUNNER_TEMP/bin/yq"
cd "$PLATFORM_DIR"
git config user.name "github-actions[bot]"
git config user.email "41898282+github-actions[bot]@users.noreply.github.com"
for attempt in 1 2 3; do
  git fetch --quiet origin main
  git reset --quiet --hard origin/main
  matches=$("$yq" '[.workloads[] | select(.image.repository == strenv(REPOSITORY))] | length' "$SPEC")
  if [ "$matches" -eq 0 ]; then
    echo "::error::no workload in $SPEC runs $REPOSITORY"
    exit 1
  fi
  "$yq" -i '(.workloads[] | select(.image.repository == strenv(REPOSITORY)) | .image) |= (.tag = strenv(VERSION) | .digest = strenv(DIGEST))' "$SPEC"
  docker run --rm --user "$(id -u):$(id -g)" --volume "$PWD:/work" --workdir /work "$CERVERUS_IMAGE" \
    build --spec "$SPEC" --out "$BUNDLE_DIR"
  git add "$SPEC" "$BUNDLE_DIR"
  if git diff --cached --quiet; then
    echo "$REPOSITORY is already at $DIGEST"
    break
  fi
  git commit --quiet -m "$KIND($SERVICE): $REPOSITORY $VERSION@$DIGEST"
  if git push --quiet origin HEAD:main; then
    break
  fi
  if [ "$attempt" -eq 3 ]; then
    echo "::error::could not push the bump after 3 attempts"
    exit 1
  fi
done
echo "commit=$(git rev-parse HEAD)" >>"$GITHUB_OUTPUT"
