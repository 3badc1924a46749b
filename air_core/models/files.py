"""Are the model files on disk whole, and of the architecture the config names? Read from their headers.

A truncated checkpoint, one of another width, a LoRA given as the CLIP, a half-written UNet: each would stop
the first job that loads it with a raw library error (``PytorchStreamReader failed``, ``invalid header
length``). The workflow's pre-job check asks here instead, and names the file and what is wrong. Only the
headers and tensor shapes are read: safetensors' header, a torch checkpoint's zip index (memory-mapped), and
the expected shapes of the architecture built on the meta device, so no weights are loaded.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

Shapes = dict[str, tuple[int, ...]]


def file_shapes(path: str | Path) -> Shapes:
    """Tensor name -> shape of a safetensors file or torch checkpoint, read without loading the weights.

    Raises:
        ValueError: the file is not a whole safetensors file or torch checkpoint (the library's words).
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        import torch

        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # each library has its own errors for a broken file
        raise ValueError(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]  # open_clip's training checkpoints
    if not isinstance(checkpoint, dict):
        raise ValueError(f"it holds a {type(checkpoint).__name__}, not a state dict of tensors")
    prefix = "module." if next(iter(checkpoint), "").startswith("module.") else ""  # saved from DataParallel
    return {k[len(prefix) :]: tuple(v.shape) for k, v in checkpoint.items() if hasattr(v, "shape")}


def mismatch(found: Shapes, expected: Shapes) -> str | None:
    """What differs between a file's tensors and an architecture's (missing, unexpected, other shapes)."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [k for k in expected if k in found and tuple(found[k]) != tuple(expected[k])]
    if not (missing or unexpected or shapes):
        return None
    parts = []
    if shapes:
        k = shapes[0]
        parts.append(f"{len(shapes)} tensors have other shapes, e.g. {k} is {list(found[k])}, not {list(expected[k])}")
    if missing:
        parts.append(f"{len(missing)} of the architecture's {len(expected)} tensors are missing, e.g. {missing[0]}")
    if unexpected:
        parts.append(f"{len(unexpected)} tensors are not the architecture's, e.g. {unexpected[0]}")
    return "; ".join(parts)


def _meta_shapes(module) -> Shapes:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def clip_shapes(arch: str) -> Shapes:
    """The tensor shapes of the open_clip architecture ``arch`` (a name or model-config JSON), built on meta."""
    import open_clip
    import torch

    from air_core.models.clip import _arch_name  # registers this project's model configs with open_clip

    with torch.device("meta"):
        model = open_clip.create_model(_arch_name(arch), pretrained=None, device="meta")
    return _meta_shapes(model)


def clip_checkpoint_problem(arch: str, checkpoint: str | Path) -> str | None:
    """None when ``checkpoint`` is a whole checkpoint of the CLIP ``arch``, else what is wrong."""
    try:
        found = file_shapes(checkpoint)
    except ValueError as err:
        return f"CLIP checkpoint {checkpoint} (models.clip.pretrained) cannot be read ({err}); is it truncated?"
    differs = mismatch(found, clip_shapes(arch))
    if differs:
        return (
            f"CLIP checkpoint {checkpoint} (models.clip.pretrained) is not a checkpoint of {arch} "
            f"(models.clip.arch): {differs}. Give a checkpoint of that architecture, or set models.clip.arch to "
            "the checkpoint's"
        )
    return None


WEIGHT_FILES = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.bin",
    "model.safetensors",
    "pytorch_model.bin",
)
WEIGHTED = ("unet", "vae", "text_encoder")  # the components with weights; the others are configs and vocabularies
NOT_LOADED = ("safety_checker",)  # air_core.models.diffusion.load_pipeline passes safety_checker=None


def _component_shapes(folder: Path, library: str, class_name: str) -> Shapes:
    """The tensor shapes of a pipeline component built from its config on the meta device."""
    from accelerate import init_empty_weights

    cls = getattr(importlib.import_module(library), class_name)
    with init_empty_weights():
        if library == "transformers":
            model = cls(cls.config_class.from_pretrained(folder))
        else:
            model = cls.from_config(cls.load_config(folder))
    return _meta_shapes(model)


def diffusion_folder_problem(folder: str | Path) -> str | None:
    """None when a diffusers pipeline folder has every component its model_index.json lists, and whole weight
    files of the shapes each component's config builds; else what is wrong."""
    folder = Path(folder)
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return f"Stable Diffusion folder {folder}: model_index.json cannot be read ({err})"
    for component, spec in index.items():
        if component.startswith("_") or not isinstance(spec, list) or spec[0] is None or component in NOT_LOADED:
            continue  # metadata, a component left out (safety_checker: null), or one the workflow does not load
        if not (folder / component).is_dir():
            return (
                f"Stable Diffusion folder {folder} has no {component}/ folder, which its model_index.json lists; "
                "copy the whole pipeline (diffusers' save_pretrained writes every component)"
            )
        if component in WEIGHTED:
            problem = _weights_problem(folder / component, spec)
            if problem:
                return problem
    return None


def _weights_problem(folder: Path, spec: list) -> str | None:
    weights = next((folder / name for name in WEIGHT_FILES if (folder / name).is_file()), None)
    if weights is None and any(folder.glob("*.index.json")):
        return None  # sharded weights: diffusers and transformers check the shards against their index
    if weights is None:
        return f"Stable Diffusion component {folder} has no weight file (one of {', '.join(WEIGHT_FILES)})"
    try:
        found = file_shapes(weights)
    except ValueError as err:
        return f"Stable Diffusion weights {weights} cannot be read ({err}); is the file truncated? Copy it again"
    differs = mismatch(found, _component_shapes(folder, *spec))
    if differs:
        return f"Stable Diffusion weights {weights} do not match {folder / 'config.json'}: {differs}"
    return None


def readable_problem(path: str | Path, what: str) -> str | None:
    """None when a weight file's header and tensor index can be read, else what is wrong (a tag's hub file: its
    tensor names may be another code base's, which open_clip converts, so only its wholeness is checked)."""
    try:
        file_shapes(path)
    except ValueError as err:
        return f"{what}: the cached file {path} cannot be read ({err}); delete it and fetch the model again"
    return None


def lora_file_problem(path: str | Path) -> str | None:
    """None when a LoRA weight file (safetensors) can be read, else what is wrong."""
    try:
        shapes = file_shapes(path)
    except ValueError as err:
        return f"LoRA weights {path} cannot be read ({err}); is it truncated? Delete it, and train_lora makes it again"
    if not shapes:
        return f"LoRA weights {path} hold no tensor; delete the file, and train_lora makes it again"
    return None
