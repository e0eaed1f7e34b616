#!/usr/bin/env bash
# Train on several processes with torchrun (one process per GPU), on one node or many.
#
#   tools/dist_train.sh CONFIG NPROC_PER_NODE [xtune train arguments...]
#
#   tools/dist_train.sh configs/demo/tiny_qwen_lora.py 2 --cfg-options strategy.type=DDP
#   tools/dist_train.sh configs/demo/tiny_qwen_lora.py 8 --deepspeed zero3
#
# Several nodes: run the same command on every node with these variables (node 0 is the master):
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 MASTER_PORT=29500 tools/dist_train.sh CONFIG 8 --deepspeed zero3
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 MASTER_PORT=29500 tools/dist_train.sh CONFIG 8 --deepspeed zero3
# PYTHON selects the interpreter (default: python).
set -euo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
CONFIG=$1
NPROC_PER_NODE=$2
shift 2

exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${MASTER_PORT:-29500}" \
    --nproc_per_node="$NPROC_PER_NODE" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "$@"
