"""The measurements of benchmarks/gpu_check.py, each through the code the workflow's stages run.

diffusion: ``air_core.models.diffusion.load_pipeline`` (fp16 on CUDA, DPM-Solver++), one LoRA
training run of ``air_core.lora.train_lora`` on a copy of the UNet, its adapter saved and fused into
the pipeline with ``save_lora``/``load_lora``, then ``air_core.generate.generate_images`` (PNG files
written, as the generate stage does). clip: ``air_core.models.clip.load_clip``,
``air_core.encode.encode_images`` over JPEG files (decoding in the figure) and the same encoding from
decoded tensors, one training step of ``TextPromptLearner`` by text path and precision and of
``VisualPromptLearner`` (their steps end in ``loss.item()``, as ``air_core.fitting.train_round``'s do).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from benchmarks.prompt_training import built_loss, write_images

if TYPE_CHECKING:
    from benchmarks.gpu_check import Row, Settings

log = logging.getLogger("gpu_check")
ROWS = {"diffusion": ("generate_", "train_lora"), "clip": ("encode_", "text_", "vpt")}  # row keys by section


class Clock:
    """The run's deadline, and timing with CUDA events on a GPU (wall time on the CPU)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.device = torch.device(settings.device)
        self.deadline = time.perf_counter() + settings.budget_s

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def rate(self, once: Callable[[], int], warmup: int | None = None) -> tuple[float, int, float]:
        """Units per second of ``once`` (it returns the units it did), after warm-up calls.

        Times at least one call, then calls again while the figure's budget and the run's lasts, at most
        ``max_iters`` times. Returns (units/s, timed calls, timed seconds).
        """
        for _ in range(self.settings.warmup if warmup is None else warmup):
            once()
        self.sync()
        budget = min(self.settings.figure_budget_s, self.left())
        cuda = self.device.type == "cuda"
        if cuda:
            start_event, end_event = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start_event.record()
        start = time.perf_counter()
        units = calls = 0
        while calls < self.settings.max_iters and (calls == 0 or time.perf_counter() - start < budget):
            units += once()
            calls += 1
        if cuda:
            end_event.record()
        self.sync()
        seconds = start_event.elapsed_time(end_event) / 1000 if cuda else time.perf_counter() - start
        return units / seconds, calls, seconds


def measure(row: Row, clock: Clock, work: Callable[[], tuple[float, int, float]]) -> None:
    """Fill ``row`` from ``work`` (a ``Clock.rate``) and the peak GPU memory; an error becomes the row's."""
    if clock.left() <= 0:
        row.error = "skipped: the run's time budget (--budget) was spent"
        return
    cuda = clock.device.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(clock.device)
    try:
        row.measured, row.iterations, row.seconds = work()
    except Exception as err:  # one figure failing must not cost the others: its row says why
        log.exception("%s failed", row.key)
        row.error = f"{type(err).__name__}: {err}".splitlines()[0][:300]
    finally:
        if cuda:
            row.peak_gib = torch.cuda.max_memory_allocated(clock.device) / 2**30
    log.info("%s: %s", row.key, f"{row.measured:.3g} {row.unit}" if row.measured else row.error)


def diffusion(settings: Settings, clock: Clock, rows: dict[str, Row], workdir: Path) -> None:
    """LoRA step and generation rows, from one SD pipeline built with random weights."""
    from air_core.config import DiffusionSpec
    from air_core.jobs import dtype_of
    from air_core.lora import LORA_WEIGHTS, load_lora
    from air_core.models.diffusion import load_pipeline, resolution

    start = time.perf_counter()
    pipe = load_pipeline(DiffusionSpec(id=settings.sd_id), clock.device, dtype_of(clock.device))
    log.info("built %s (%s) in %.1f s", settings.sd_id, pipe.unet.dtype, time.perf_counter() - start)
    size = resolution(pipe)
    lora_path = workdir / "lora" / LORA_WEIGHTS
    measure(rows["train_lora"], clock, lambda: _lora_steps(pipe, settings, size, workdir, lora_path))
    fused = lora_path.is_file()
    if fused:
        load_lora(pipe, lora_path)  # fused, as the generate stage loads it
    for batch in settings.generate_batches:
        row = rows[f"generate_b{batch}"]
        measure(row, clock, lambda b=batch: clock.rate(_generate_once(pipe, settings, size, b, workdir), warmup=1))
        if not fused and row.error is None:
            row.error = "measured without LoRA: the LoRA step failed"


def _lora_steps(pipe, settings: Settings, size: int, workdir: Path, lora_path: Path) -> tuple[float, int, float]:
    """Steps/s of train_lora on a copy of the UNet (the generation pipeline stays without adapter layers).

    train_lora records when each step ended (its loss.item() waits for the step), so the warm-up
    steps are left out of the figure; its adapter is saved to ``lora_path`` for generation.
    """
    from diffusers import StableDiffusionPipeline

    from air_core.config import LoraTrainConfig
    from air_core.lora import save_lora, train_lora

    paths = write_images(workdir / "lora_images", 2 * settings.lora_batch, size)
    components = {**pipe.components, "unet": copy.deepcopy(pipe.unet)}
    training = StableDiffusionPipeline(**components, requires_safety_checker=False)
    cfg = LoraTrainConfig(steps=settings.warmup + settings.lora_steps, batch_size=settings.lora_batch, resolution=size)
    history = train_lora(training, paths, [f"a photo of class {i}" for i in range(len(paths))], cfg)
    save_lora(training, lora_path)
    del training, components
    seconds = history[-1]["seconds"] - history[settings.warmup - 1]["seconds"]
    return settings.lora_steps / seconds, settings.lora_steps, seconds


def _generate_once(pipe, settings: Settings, size: int, batch: int, workdir: Path) -> Callable[[], int]:
    """One pipeline call of ``batch`` images through generate_images, PNGs written; returns the image count."""
    from air_core.config import GenerateConfig
    from air_core.generate import generate_images

    cfg = GenerateConfig(images_per_class=batch, steps=settings.steps, resolution=size)  # guidance 7.5: CFG

    def once() -> int:
        generate_images(pipe, [0], ["class 0"], ["class_0"], "a photo of a", cfg, workdir / "generated", 0, batch)
        return batch

    return once


def clip(settings: Settings, clock: Clock, rows: dict[str, Row], workdir: Path) -> None:
    """Encoding, text-prompt and VPT rows, from one CLIP built with random weights."""
    from air_core.config import ClipSpec
    from air_core.models.clip import load_clip
    from benchmarks.gpu_plan import class_names

    bundle = load_clip(ClipSpec(arch=settings.clip_arch, pretrained=None), clock.device)  # cuda_dtype float16
    full = load_clip(ClipSpec(arch=settings.clip_arch, pretrained=None, cuda_dtype="float32"), clock.device)
    paths = write_images(workdir / "jpeg", settings.jpegs, settings.jpeg_size)
    measure(rows["encode_jpeg"], clock, lambda: clock.rate(_encode_files(bundle, paths, settings), warmup=1))
    measure(rows["encode_tensor"], clock, lambda: clock.rate(_encode_tensors(bundle, paths, settings), warmup=1))
    names = list(class_names("flowers102"))
    for path in ("cut", "shared_prefix"):
        for precision, towers in (("fp32", full), ("fp16", bundle)):
            step = _text_step(towers, names, path, settings.prompt_batch, clock.device)
            measure(rows[f"text_{path}_{precision}"], clock, lambda s=step: clock.rate(s))
    measure(rows["vpt"], clock, lambda: clock.rate(_vpt_step(bundle, len(names), settings.prompt_batch, clock.device)))


def _encode_files(bundle, paths: list[str], settings: Settings) -> Callable[[], int]:
    """encode_images over the JPEG files, as rule encode_real runs it (decoding and preprocessing included)."""
    from air_core.encode import encode_images

    def once() -> int:
        encode_images(bundle, paths, settings.encode_batch, bundle.device)
        return len(paths)

    return once


def _encode_tensors(bundle, paths: list[str], settings: Settings) -> Callable[[], int]:
    """encode_images' model work alone: the images decoded and preprocessed beforehand, on the host."""
    from air_core.data.images import open_rgb

    pixels = torch.stack([bundle.preprocess(open_rgb(p)) for p in paths])  # (N, 3, H, W)

    @torch.no_grad()
    def once() -> int:
        for i in range(0, len(pixels), settings.encode_batch):
            batch = pixels[i : i + settings.encode_batch].to(bundle.device, bundle.dtype)
            F.normalize(bundle.model.encode_image(batch).float(), dim=-1).cpu()  # as encode_images does
        return len(pixels)

    return once


def _text_step(bundle, names: list[str], path: str, batch: int, device) -> Callable[[], int]:
    """One text-prompt training step over cached image features (benchmarks.prompt_training's built way), the
    towers in the bundle's dtype (``models.clip.cuda_dtype``), as train_prompts runs them."""
    from air_core.text_prompts import TextPromptLearner

    torch.manual_seed(0)
    learner = TextPromptLearner(bundle.model, bundle.tokenizer, names, n_ctx=16, text_path=path).to(device)
    optimizer = torch.optim.SGD([learner.ctx], lr=0.002, momentum=0.9)
    with torch.no_grad():
        width = learner().shape[1]
    features = F.normalize(torch.randn(batch, width, device=device), dim=-1)  # (B, D) cached image features
    labels = torch.randint(len(names), (batch,), device=device)

    def once() -> int:
        loss = built_loss(bundle, learner, features, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()  # train_round reads every step's loss
        return 1

    return once


def _vpt_step(bundle, n_classes: int, batch: int, device) -> Callable[[], int]:
    """One VPT training step over cached, preprocessed images (16 prompt tokens, the zero-shot text fixed)."""
    from air_core.visual_prompts import VisualPromptLearner

    torch.manual_seed(0)
    size = bundle.model.visual.image_size
    images = torch.randn(batch, 3, *((size, size) if isinstance(size, int) else size), device=device)  # (B, 3, H, W)
    with torch.no_grad():
        width = bundle.model.encode_image(images[:1].to(bundle.dtype)).shape[1]
    text = F.normalize(torch.randn(n_classes, width), dim=-1)  # (C, D) stand-in zero-shot features
    learner = VisualPromptLearner(bundle.model, text, 16).to(device)
    optimizer = torch.optim.SGD([learner.prompt], lr=0.002, momentum=0.9)
    labels = torch.randint(n_classes, (batch,), device=device)

    def once() -> int:
        logits = bundle.logit_scale * learner.image_features(images) @ learner.text_features().T  # (B, C)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()
        return 1

    return once
