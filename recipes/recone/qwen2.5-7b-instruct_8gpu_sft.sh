#!/usr/bin/env bash
# Copyright 2026 The reczero-verl Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

# RecOne step 1: cold-start SFT of Qwen2.5-7B-Instruct on one node of 8 GPUs.
# Thin launcher: every argument is forwarded to verl's SFT trainer as a Hydra override (key=value), e.g.
#   recipes/recone/qwen2.5-7b-instruct_8gpu_sft.sh data.train_files=/shared/coldstart/sft_train.parquet
# NPROC_PER_NODE must equal trainer.n_gpus_per_node (8 in the recipe).
set -euo pipefail
RECIPES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec torchrun --standalone --nnodes=1 --nproc_per_node="${NPROC_PER_NODE:-8}" \
    -m verl.trainer.sft_trainer \
    --config-path "$RECIPES_DIR/recone" --config-name qwen2.5-7b-instruct_8gpu_sft \
    "$@"
