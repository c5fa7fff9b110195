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

# RecZero quickstart: GRPO on one GPU with Qwen2.5-0.5B-Instruct.
# Thin launcher: every argument is forwarded to verl as a Hydra override (key=value, +key=value), e.g.
#   recipes/reczero/qwen2.5-0.5b-instruct_1gpu.sh trainer.total_epochs=1 +ablations=format_only
# --config-dir adds recipes/ to Hydra's search path so that the override files in recipes/ablations/ resolve.
set -euo pipefail
RECIPES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "${PYTHON:-python3}" -m verl.trainer.main_ppo \
    --config-path "$RECIPES_DIR/reczero" --config-name qwen2.5-0.5b-instruct_1gpu \
    --config-dir "$RECIPES_DIR" \
    "$@"
