#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0

# The one launcher: verl's own trainer on a recipe of this folder, every other argument a Hydra override.
#   recipes/run.sh <recipe> [key=value | +key=value ...]
#   recipes/run.sh reczero_qwen2.5-0.5b-instruct_1gpu +ablations=format_only trainer.experiment_name=format_only
# Recipes named *_sft run verl's SFT trainer under torchrun with one process per GPU of the recipe name (_<N>gpu;
# NPROC_PER_NODE overrides it); the others run `python -m verl.trainer.main_ppo` (GRPO). The CPU backend:
#   VERL_PLATFORM=cpu recipes/run.sh <grpo recipe> +platform=cpu ...   (SFT: +platform=cpu_sft)
set -euo pipefail
if [[ $# -lt 1 || "$1" == -* ]]; then
    echo "usage: $0 <recipe> [key=value ...]   (recipes: $(cd "$(dirname "$0")" && ls ./*.yaml | sed 's|^\./||; s|\.yaml$||' | tr '\n' ' '))" >&2
    exit 2
fi
RECIPES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RECIPE="$(basename "${1%.yaml}")"
shift
if [[ ! -f "$RECIPES_DIR/$RECIPE.yaml" ]]; then
    echo "$0: no recipe $RECIPES_DIR/$RECIPE.yaml" >&2
    exit 2
fi
if [[ "$RECIPE" == *_sft ]]; then
    [[ "$RECIPE" =~ _([0-9]+)gpu ]] && GPUS="${BASH_REMATCH[1]}" || GPUS=1
    exec torchrun --standalone --nnodes=1 --nproc_per_node="${NPROC_PER_NODE:-$GPUS}" \
        -m verl.trainer.sft_trainer --config-dir "$RECIPES_DIR" --config-name "$RECIPE" "$@"
fi
exec "${PYTHON:-python3}" -m verl.trainer.main_ppo --config-dir "$RECIPES_DIR" --config-name "$RECIPE" "$@"
