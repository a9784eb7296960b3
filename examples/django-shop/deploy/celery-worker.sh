#!/bin/sh
# The Celery worker, stopped without losing a task: supervisord runs this from `current`
# (directory=) with the worker's arguments, and sends TERM here.
#
# Why not TERM to Celery itself: Celery 5.2 on Redis has a message in flight most of the
# time (its BRPOP waits up to 1 s). A TERM that lands as a message arrives starts the warm
# shutdown before the reply is read, and that message is gone: it left the Redis list and
# never reached the `unacked` hash, so no visibility timeout brings it back
# (celery/celery#4354). So on TERM this first tells the worker to stop consuming, which
# Celery handles in its event loop after the pending read; waits out one BRPOP; and only
# then starts the warm shutdown, which finishes the tasks in the pool.
#
# Usage: celery-worker.sh NODE_NAME [celery worker options...]   (NODE_NAME like shop-worker@%h)
set -u
node=$1
shift
case $node in *%h*) node=$(printf '%s' "$node" | sed "s/%h/$(hostname)/") ;; esac
celery=virtualenv/bin/celery
queue=${CELERY_QUEUE:-celery}

"$celery" --app shop worker --hostname "$node" "$@" &
worker=$!

stop() {
  trap '' TERM INT
  "$celery" --app shop control cancel_consumer "$queue" --destination "$node" --timeout 5 >/dev/null 2>&1 || true
  sleep 2
  kill -TERM "$worker" 2>/dev/null
}
trap stop TERM INT

# wait returns early (status > 128) when a trapped signal arrives; wait again until the
# worker has exited, and exit with its status.
status=0
while kill -0 "$worker" 2>/dev/null; do
  wait "$worker"
  status=$?
done
exit "$status"
