"""The embedding model exported to ONNX (and int8-quantized) once, cached under the data dir.

Built locally from the packaged sentence-transformers weights (no download): the transformer
is exported with ``torch.onnx``, then, for ``int8``, the weights of its matrix products are
quantized per channel with ONNX Runtime's dynamic quantization, except the feed-forward
down-projections, whose inputs have outliers that 8 bits lose (with them quantized too the
vectors' cosine to PyTorch's fell to 0.93; without, 0.997). An export is written to a temporary directory beside its
final place and renamed into it when complete, with a manifest of its files' sizes and
SHA-256; a directory without a valid manifest (an interrupted or damaged export) is
removed and built again. A file lock keeps two processes from exporting at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1  # bump when the exported graph or its manifest changes
MODEL_FILE = "model.onnx"
MANIFEST = "manifest.json"
OPSET = 17

def _versions() -> str:
    import onnxruntime
    import torch

    return f"format{EXPORT_FORMAT}-ort{onnxruntime.__version__}-torch{torch.__version__}"


def fingerprint(model_dir: Path, variant: str) -> str:
    """Identifies the source weights (names, sizes, mtimes), the variant and the toolchain."""
    digest = hashlib.sha256(f"{variant}|{_versions()}|{model_dir.resolve()}".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(model_dir)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check(directory: Path) -> str | None:
    """None when ``directory`` holds a complete export; otherwise what is wrong with it."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "is incomplete (no manifest: an interrupted export?)"
    if manifest.get("format") != EXPORT_FORMAT or MODEL_FILE not in files:
        return "is of another format"
    for name, (size, sha) in files.items():
        path = directory / name
        if not path.is_file() or path.stat().st_size != size or _sha256(path) != sha:
            return f"is damaged ({name} is missing or differs from its manifest)"
    return None


def ensure_export(model_dir: Path, cache_dir: Path, variant: str,
                  notice: Callable[[str], None] = log.warning) -> Path:
    """The path of the exported model file for ``variant`` ('int8' or 'fp32'), exporting first
    when it is missing, incomplete or damaged (with a one-line ``notice``)."""
    key = fingerprint(model_dir, variant)
    target = cache_dir / f"{model_dir.name}-{variant}-{key}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        for leftover in cache_dir.glob(target.name + ".tmp*"):  # a killed export's temp dir
            shutil.rmtree(leftover, ignore_errors=True)
        if target.exists():
            problem = check(target)
            if problem is None:
                return target / MODEL_FILE
            notice(f"the exported embedding model in {target} {problem}; exporting it again")
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=target.name + ".tmp"))
        try:
            log.info("exporting the embedding model to ONNX (%s), once", variant)
            export(model_dir, tmp, variant)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target / MODEL_FILE


def export(model_dir: Path, out: Path, variant: str) -> None:
    """Write ``MODEL_FILE`` and ``MANIFEST`` for ``model_dir``'s transformer into ``out``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    sample = tokenizer(["an example sentence to trace", "another one"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    fp32 = out / ("model_fp32.onnx" if variant == "int8" else MODEL_FILE)

    class Wrapper(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, args, strict=True))).last_hidden_state

    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constants it folds
        torch.onnx.export(Wrapper(model), tuple(sample[n] for n in names), str(fp32), input_names=names,
                          output_names=["last_hidden_state"],
                          dynamic_axes={**axes, "last_hidden_state": {0: "batch", 1: "sequence"}},
                          opset_version=OPSET, dynamo=False, external_data=False)
    if variant == "int8":
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        down = [n.name for n in onnx.load(str(fp32)).graph.node
                if n.op_type == "MatMul" and "/output/dense/" in n.name and "attention" not in n.name]
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantizer's advice, logged to the root logger
        try:
            quantize_dynamic(str(fp32), str(out / MODEL_FILE), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"], nodes_to_exclude=down)
        finally:
            root.setLevel(level)
        fp32.unlink()
    files = {p.name: [p.stat().st_size, _sha256(p)] for p in out.iterdir() if p.is_file()}
    (out / MANIFEST).write_text(json.dumps({"format": EXPORT_FORMAT, "variant": variant, "files": files}))
