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
"""RecOne cold start: teacher TbR traces from an OpenAI-compatible endpoint, filtered and rationalized, as SFT data.

Modules: :mod:`~reczero_verl.coldstart.traces` (pure keep/rationalize rules), :mod:`~reczero_verl.coldstart.leaks`
(the lexical leak rules, a cheap first pass), :mod:`~reczero_verl.coldstart.leak_judge` (the blind judge model's prompt
and verdict parser), :mod:`~reczero_verl.coldstart.samples` (input and stratified selection),
:mod:`~reczero_verl.coldstart.client` (the ``openai`` SDK with ``tenacity`` retries),
:mod:`~reczero_verl.coldstart.journal` (durable append-only audit log, resume), :mod:`~reczero_verl.coldstart.runner`
(the async loop), :mod:`~reczero_verl.coldstart.export` (SFT parquet and stats), :mod:`~reczero_verl.coldstart.cli`
(``reczero-verl coldstart``). Importing the package is light: no torch, verl or openai at import time.
"""
