# The Dockerfile to build and the version the image is published as (the publish job tags the
# index `sha-<12>` of the same commit). The rendered Dockerfile's ignore file is `.dockerignore`
# in the bundle; BuildKit reads `<Dockerfile>.dockerignore` next to the Dockerfile instead of
# the context's own `.dockerignore`, and the platform checkout itself is kept out of the context.
set -euo pipefail
if [ -n "$DOCKERFILE" ]; then
  file="$DOCKERFILE"
else
  file="$RENDERED_DIR/Dockerfile"
  if [ ! -f "$file" ]; then
    echo "::error::$file is not in the platform repository: is this service's image in the spec?"
    exit 1
  fi
  cp "$RENDERED_DIR/.dockerignore" "$file.dockerignore"
  printf '%s\n' "$PLATFORM_CHECKOUT" >>"$file.dockerignore"
fi
{
  echo "file=$file"
  echo "version=sha-${GITHUB_SHA::12}"
} >>"$GITHUB_OUTPUT"
