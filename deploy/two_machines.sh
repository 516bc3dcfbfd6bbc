#!/usr/bin/env bash
# Two machines by hand, without a cluster manager: run this on each machine with its index (0 on the chief).
# Both machines need the project's environment, the data at the same path, and one shared folder (NFS, ...) as the
# working directory, so that model/<netname>/ is the same folder on both.
#
#   deploy/two_machines.sh 0 host-a:12345 host-b:12345 --dataset=celebA --db_path=/shared/data/celeba   # on host-a
#   deploy/two_machines.sh 1 host-a:12345 host-b:12345 --dataset=celebA --db_path=/shared/data/celeba   # on host-b
#
# If one machine dies the other stops with "lost a worker of the cluster"; run both commands again to resume.
set -euo pipefail
index=$1; a=$2; b=$3; shift 3
export TF_CONFIG="{\"cluster\": {\"worker\": [\"$a\", \"$b\"]}, \"task\": {\"type\": \"worker\", \"index\": $index}}"
exec python "$(dirname "$0")/../train.py" "$@"
