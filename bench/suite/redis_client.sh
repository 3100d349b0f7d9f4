#!/usr/bin/env bash
# redis_client.sh PORT RESP_FILE REQUESTS BENCH_OUT — the client side of
# the suite's redis workload (bench/suite.sh runs it under runone, without
# any preload; the server is the measured process).
#
# 1. loads RESP_FILE (a deterministic data set from gen_inputs.py) with
#    redis-cli --pipe;
# 2. prints what must be identical under every allocator: the key count
#    and DEBUG DIGEST of the data set, and the pipe's reply count;
# 3. runs redis-benchmark over loopback: REQUESTS requests for each of
#    ten commands, 50 clients, pipelines of 16, random keys among 100000,
#    values of 128 bytes; its CSV report goes to BENCH_OUT.
# Exits non-zero when a step fails.
set -euo pipefail
port=$1 resp=$2 requests=$3 bench_out=$4
cli=(redis-cli -h 127.0.0.1 -p "$port")
piped=$("${cli[@]}" --pipe <"$resp" 2>&1)
grep -q 'errors: 0,' <<<"$piped" || { echo "redis_client: pipe failed: $piped" >&2; exit 1; }
echo "pipe $(grep -o 'replies: [0-9]*' <<<"$piped")"
echo "dbsize $("${cli[@]}" dbsize)"
echo "digest $("${cli[@]}" debug digest)"
redis-benchmark -h 127.0.0.1 -p "$port" -n "$requests" -c 50 -P 16 -r 100000 -d 128 \
    -t set,get,incr,lpush,rpop,sadd,hset,spop,lrange_100,mset --csv >"$bench_out"
