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
"""reczero-verl: RecZero and RecOne (Think before Recommendation, arXiv 2510.23077) as a plugin for verl.

Importing this package is cheap on purpose (no torch, no verl): the command line starts fast and verl loads the
heavy parts through the ``verl.plugins`` entry point (:mod:`reczero_verl.plugin`) only when verl itself is imported.
"""

__version__ = "0.1.0"

#: The verl release every recipe and contract of this package was validated against.
REQUIRED_VERL = "0.9.1"

__all__ = ["__version__", "REQUIRED_VERL"]
