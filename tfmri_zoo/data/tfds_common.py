"""Shared piece of the zoo's TFDS builders."""
import inspect

from etils import epath
import tensorflow_datasets as tfds


class SourceFileCodePath:
    """Mixin: ``code_path`` is the builder's own source file.

    TFDS 4.9.x derives ``code_path`` through ``importlib_resources``, a package that is not installed with TFDS on
    Python ≥ 3.9; the builders only need the path to look for a (here absent) checksums file, so they give it
    directly. No download URLs are ever used.
    """

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):
        return epath.Path(inspect.getfile(cls))
