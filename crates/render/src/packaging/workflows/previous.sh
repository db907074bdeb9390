# The image a service ran before one of its deploys: the bump commit given (or, when none is, the
# last `deploy(<service>): ` commit on main) and the spec's image of the repository in that
# commit's parent. The rollback sets that image again through a new commit (bump.sh) instead of
# `git revert`: a revert of the rendered bundle conflicts as soon as a later bump of another
# service touched one of the same files, and the spec stays the one record of what runs. Rolling
# back twice without a commit restores the same image (the last deploy is still the same one).
set -euo pipefail
yq="$RUNNER_TEMP/bin/yq"
cd "$PLATFORM_DIR"
git fetch --quiet origin main
if [ -z "$COMMIT" ]; then
  # By subject, from its start: a `Revert "deploy(...)"` or a rollback commit never matches.
  COMMIT=$(git log --format='%H %s' origin/main \
    | awk -v prefix="deploy($SERVICE): " 'index(substr($0, 42), prefix) == 1 { print $1; exit }')
fi
if [[ ! "$COMMIT" =~ ^[0-9a-f]{40}$ ]]; then
  echo "::error::no deploy of $SERVICE to roll back ('$COMMIT')"
  exit 1
fi
if ! git merge-base --is-ancestor "$COMMIT" origin/main; then
  echo "::error::$COMMIT is not on main"
  exit 1
fi
subject=$(git log -1 --format=%s "$COMMIT")
case "$subject" in
  "deploy($SERVICE): "*) ;;
  *)
    echo "::error::$COMMIT is not a deploy of $SERVICE: $subject"
    exit 1
    ;;
esac
before="$RUNNER_TEMP/spec-before.yaml"
git show "$COMMIT^:$SPEC" >"$before"
select='[.workloads[] | select(.image.repository == strenv(REPOSITORY)) | .image][0]'
version=$("$yq" "$select | .tag" "$before")
digest=$("$yq" "$select | .digest" "$before")
echo "$COMMIT ($subject) replaced $REPOSITORY $version@$digest"
{
  echo "bump=$COMMIT"
  echo "version=$version"
  echo "digest=$digest"
} >>"$GITHUB_OUTPUT"
