"""The files of a manually downloaded tar archive, or of its extracted folder.

Shared by the builders that read a published tar archive (`chairs3d`, `cars3d`):
`ArchiveFiles(path, dataset, archive_name, url)` lists the regular files of a tar
archive (any compression `tarfile` reads) or of a folder, each under its path
relative to the folder's parent (so `rendered_chairs/...` or `cars/...` match the
same patterns in both forms), and `read()` returns a file's bytes. A file that is
not a readable tar archive raises a `ValueError` naming it and what was expected.
`ManualArchiveBuilder` is the part of such a TFDS builder that finds the archive in
the manual directory and generates the one `train` split from it.
"""

import os
import tarfile

from kerasdis.data import catalog


class ArchiveFiles:
    """`entries`: `[(name, entry)]` of a tar archive or folder; `read(entry)` -> bytes."""

    def __init__(self, path, dataset, archive_name, url):
        self.path = path
        self.is_tar = os.path.isfile(path)
        self._tar = None
        self.entries = []
        if self.is_tar:
            try:
                self._tar = tarfile.open(path, "r:*")
                members = [m for m in self._tar.getmembers() if m.isfile()]
            except (tarfile.TarError, OSError, EOFError) as error:
                reason = " ".join(str(error).split())  # tarfile's reasons span lines
                raise ValueError(
                    f"{dataset}: {path} is not a readable tar archive ({reason}). Expected "
                    f"`{archive_name}` from {url}; download it again."
                ) from error
            self.entries = [(m.name, m) for m in members]
        else:
            parent = os.path.dirname(os.path.abspath(path))
            for root, _, files in os.walk(path):
                for name in sorted(files):
                    full = os.path.join(root, name)
                    self.entries.append(
                        (os.path.relpath(full, parent).replace(os.sep, "/"), full))

    def read(self, entry):
        """The bytes of one entry (raises what `tarfile` / `open` raise)."""
        if self.is_tar:
            return self._tar.extractfile(entry).read()
        with open(entry, "rb") as f:
            return f.read()

    def close(self):
        if self._tar is not None:
            self._tar.close()
            self._tar = None


class ManualArchiveBuilder:
    """Mixin of a `tfds.core.GeneratorBasedBuilder` whose one `train` split is read from
    a manually downloaded archive: the class sets `DATASET` (its catalog name) and
    `SOURCE` (a class taking the archive's path and offering `close()`), and defines
    `_generate_examples(source)`."""

    DATASET = None
    SOURCE = None

    @classmethod
    def open_source(cls, directory):
        """`SOURCE` of the archive (or extracted folder) in `directory`; the catalog's
        `ManualDownloadError` when it is not there."""
        path = catalog.find_archive(cls.DATASET, directory)
        if path is None:
            raise catalog.missing_archive_error(cls.DATASET, directory)
        return cls.SOURCE(path)

    def _split_generators(self, dl_manager):
        source = self.open_source(os.fspath(dl_manager.manual_dir))
        return {"train": self._generate_examples(source)}
