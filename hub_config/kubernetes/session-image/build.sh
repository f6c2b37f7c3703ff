#!/usr/bin/env bash
# Build every session image the shipped profiles name, in order (the app images build on the
# minimal one). Run from anywhere; needs Docker (or a compatible `docker` CLI).
#   REGISTRY=registry.example.org/jupyterhub-sessions TAG=0.1.0 build.sh [--push] [--print]
# --print only lists the images it would build (one reference per line).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
REGISTRY=${REGISTRY:-registry.example.org/jupyterhub-sessions}
TAG=${TAG:-0.1.0}
STACKS=${STACKS:-2025-10-20}

# session images: name and docker-stacks base
bases=(
    "scipy-notebook quay.io/jupyter/scipy-notebook:$STACKS"
    "minimal-notebook quay.io/jupyter/minimal-notebook:$STACKS"
    "datascience-notebook quay.io/jupyter/datascience-notebook:$STACKS"
    "pytorch-notebook quay.io/jupyter/pytorch-notebook:cuda12-$STACKS"
)
# app images, on the minimal session image
apps=(carta firefly desktop)

mode=build
push=0
for arg in "$@"; do
    case $arg in
        --print) mode=print ;;
        --push) push=1 ;;
        *) echo "usage: $0 [--push] [--print]" >&2; exit 2 ;;
    esac
done

run() {
    if [ "$mode" = print ]; then return 0; fi
    echo "+ $*" >&2
    "$@"
}

built() {
    if [ "$mode" = print ]; then echo "$1"; fi
    if [ "$push" = 1 ]; then run docker push "$1"; fi
}

for entry in "${bases[@]}"; do
    read -r name base <<< "$entry"
    run docker build -f "$here/Dockerfile" --build-arg "BASE=$base" -t "$REGISTRY/$name:$TAG" "$root"
    built "$REGISTRY/$name:$TAG"
done
for app in "${apps[@]}"; do
    run docker build --build-arg "SESSION_IMAGE=$REGISTRY/minimal-notebook:$TAG" -t "$REGISTRY/$app:$TAG" "$here/$app"
    built "$REGISTRY/$app:$TAG"
done
