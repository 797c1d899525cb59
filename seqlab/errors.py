"""User-facing errors.

Anything a user can cause with bad input (an unknown model name, a missing file, a malformed
number, a run folder that is not a seqlab run, a character outside the vocabulary) raises a
`SeqlabError` subclass whose message is one line naming the problem. The CLI turns it into
`seqlab: error: <message>` and exit code 2, never a traceback.
"""


class SeqlabError(Exception):
    """Base class of errors caused by user input; the message is one line that names the problem."""


class DataError(SeqlabError, ValueError):
    """A data spec, file or value that cannot be loaded or used."""


class ConfigError(SeqlabError, ValueError):
    """An option or configuration value that is invalid."""


class CheckpointError(SeqlabError):
    """A run folder that is missing, incomplete or not a seqlab run."""


class VocabularyError(SeqlabError, ValueError):
    """Text that the tokenizer cannot represent (characters or bytes outside its vocabulary)."""


class DivergenceError(SeqlabError):
    """Training that diverged: a non-finite or exploding loss, or non-finite weights. The run
    folder keeps its last finite checkpoint; no non-finite weights are ever written."""
