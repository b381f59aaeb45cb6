#!/bin/bash
# The GPU experiment of 2026-11-30 (#14): four Keras-torch runs side by side on one GPU, each
# sized to end its cosine schedule by a common deadline (scripts/gpu/train_until.py).
#   twopass: default-ft fine-tuned quantisation-aware with unrolled_passes=2
#   onepass: the same fine-tune, one pass (its control)
#   base:    recipes/default.yaml from scratch (training time: does stage 1 gain from 1.6x the steps?)
#   wide:    the same at width 48, two convs per level (capacity)
# The recipes have changed since that run (recipes/default*.yaml now carry a 16-channel stem and
# 60 % synthetic noise): run as is, it repeats the design on today's default (`wide` keeps the
# stem). To repeat the 2026-11-30 runs themselves, check out 330f25e first.
# The machine holds the packed data (scripts/pack_gpu_data.py) at ../shared/data; its full-size
# noisy PolyU frames are not packed, hence train_only=[].
# usage: scripts/gpu/side_by_side.sh SECONDS_OF_TRAINING OUTDIR DATA_THREADS INIT_RUN
set -uf
secs=$1; out=$2; threads=$3; init=$4
export PYTHONUNBUFFERED=1 KERAS_BACKEND=torch
deadline=$(( $(date +%s) + secs ))
common="--set train_only=[] --set data_threads=$threads --set checkpoint_every=500 --set val_every=500"
ft="--set init_from=$init --set keep_snapshots=true $common"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader -l 60 > $out/gpu.csv 2>&1 &
smi=$!
python3 scripts/gpu/train_until.py recipes/default_finetune.yaml $out/twopass --deadline $deadline $ft --set unrolled_passes=2 > $out/twopass.log 2>&1 &
p1=$!
python3 scripts/gpu/train_until.py recipes/default_finetune.yaml $out/onepass --deadline $deadline $ft > $out/onepass.log 2>&1 &
p2=$!
python3 scripts/gpu/train_until.py recipes/default.yaml $out/base --deadline $deadline --set keep_snapshots=true $common > $out/base.log 2>&1 &
p3=$!
python3 scripts/gpu/train_until.py recipes/default.yaml $out/wide --deadline $deadline $common --set 'model_config={stem: 16, width: 48, convs_per_level: 2}' > $out/wide.log 2>&1 &
p4=$!
( sleep $((secs + 50)); kill -TERM $p1 $p2 $p3 $p4 2>/dev/null ) &  # they checkpoint on SIGTERM
sleep 120; uptime; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
wait $p1 $p2 $p3 $p4
kill $smi
for run in twopass onepass base wide; do
  echo "== $run"; tail -n 4 $out/$run.log
  rm -rf $out/$run/checkpoint/optimizer.npz $out/$run/tensorboard
  [ $run = wide ] && rm -f $out/$run/best.weights.h5
  tar cf $out/$run.tar -C $out $run $run.log && rm -rf $out/$run $out/$run.log
done
cat $out/gpu.csv; rm $out/gpu.csv; ls -la $out
