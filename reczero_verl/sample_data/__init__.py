# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The bundled synthetic Amazon 2018 sample (``*.json.gz``) and its generator, :mod:`.synthetic` (see ``README.md``)."""

#: The generator's word lists, beside the sample: data of :mod:`.synthetic`, not part of the sample dump.
VOCABULARY_FILE = "vocabulary.json"
