"""The CoOp-style text prompt learner: 16 shared context vectors before each class name.

Its twin for the image side is ``air_core.visual_prompts.VisualPromptLearner``; both offer
``text_features()``, ``image_features(x)`` and ``prompt_state()``, so one trainer trains either.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class TextPromptLearner(nn.Module):
    """Class text features from a learned context: "X X ... X {class}" with X replaced by ``ctx``.

    Only ``ctx`` is a parameter; token embeddings are non-persistent buffers and the CLIP
    text tower is frozen and kept in eval mode. The token sequence is cut after the longest
    prompt's end token, which is exact under CLIP's causal attention mask.
    """

    def __init__(self, clip_model: nn.Module, tokenizer: Callable, class_names: Sequence[str], n_ctx: int = 16,
                 truncate: bool = True):
        super().__init__()
        self.n_ctx = n_ctx
        self.text = clip_model  # frozen; its weights are never saved with the prompt
        self.text.requires_grad_(False)
        tokens = tokenizer([" ".join(["X"] * n_ctx) + f" {name}" for name in class_names])  # (C, 77)
        eot = tokens.argmax(dim=-1)  # the end token has the largest id
        length = int(eot.max()) + 1 if truncate else tokens.shape[1]  # truncate=False: CoOp's 77 positions
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokens[:, :length])  # (C, L, W)
        self.register_buffer("eot", eot, persistent=False)
        self.register_buffer("prefix", embedding[:, :1], persistent=False)  # start token
        self.register_buffer("suffix", embedding[:, 1 + n_ctx:], persistent=False)  # class, end, padding
        width = embedding.shape[-1]
        self.ctx = nn.Parameter(torch.randn(n_ctx, width) * 0.02)

    def train(self, mode: bool = True) -> "TextPromptLearner":
        super().train(mode)
        self.text.eval()  # frozen encoder: no dropout, whatever the wrapper does
        return self

    def forward(self) -> torch.Tensor:
        """L2-normalised class text features (C, D)."""
        clip = self.text
        n_classes = self.prefix.shape[0]
        x = torch.cat([self.prefix, self.ctx.expand(n_classes, -1, -1), self.suffix], dim=1)  # (C, L, W)
        length = x.shape[1]
        x = x + clip.positional_embedding[:length]
        x = clip.transformer(x, attn_mask=clip.attn_mask[:length, :length])
        x = clip.ln_final(x)  # (C, L, W)
        x = x[torch.arange(n_classes, device=x.device), self.eot]  # (C, W) end-token feature
        proj = clip.text_projection
        x = proj(x) if isinstance(proj, nn.Linear) else x @ proj  # (C, D)
        return F.normalize(x, dim=-1)

    def text_features(self) -> torch.Tensor:
        """The learned class features (C, D): one text-tower pass."""
        return self()

    def image_features(self, features: torch.Tensor) -> torch.Tensor:
        """The image side is frozen: cached CLIP image features (B, D) pass through unchanged."""
        return features

    def prompt_state(self) -> dict[str, torch.Tensor]:
        """What is saved of a trained prompt: the context alone."""
        return {"ctx": self.ctx.detach().cpu().contiguous()}

    def load_prompt_state(self, state: dict[str, torch.Tensor]) -> None:
        if set(state) != {"ctx"} or state["ctx"].shape != self.ctx.shape:
            raise ValueError(f"prompt file holds {({k: tuple(v.shape) for k, v in state.items()})}, "
                             f"expected ctx of shape {tuple(self.ctx.shape)}: was it trained with another "
                             "CLIP or n_ctx?")
        with torch.no_grad():
            self.ctx.copy_(state["ctx"])
