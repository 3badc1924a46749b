"""The CoOp-style text prompt learner: 16 shared context vectors before each class name.

Its twin for the image side is ``air_core.visual_prompts.VisualPromptLearner``; both offer
``text_features()``, ``image_features(x)`` and ``prompt_state()``, so one trainer trains either.

Three exact ways to run the frozen text tower over the prompts "[SOT] X1 .. Xn {class} [EOT]"
(``text_path``), equal up to float rounding because CLIP's text attention is causal:

- ``full``: every class's 77 positions (the CoOp code base's way);
- ``cut``: every class's positions up to the longest prompt's end token;
- ``shared_prefix`` (default): [SOT] and the n context vectors are the same in every prompt, and
  under the causal mask their hidden states depend on those positions only, so they run once, as
  one sequence; each class then runs only its own suffix (name tokens and end token), whose
  queries attend to the prefix's keys and values and to their own causal part. The position-wise
  layers (layer norms, projections, MLP) run over all classes' suffix tokens packed, without
  padding; only attention, a small part of the work, pads each suffix to the longest one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

TEXT_PATHS = ("shared_prefix", "cut", "full")


class TextPromptLearner(nn.Module):
    """Class text features from a learned context: "X X ... X {class}" with X replaced by ``ctx``.

    Only ``ctx`` is a parameter; token embeddings are non-persistent buffers and the CLIP
    text tower is frozen and kept in eval mode. ``text_path`` picks how the tower runs (module
    docstring); all three give the same features and gradients.
    """

    def __init__(
        self,
        clip_model: nn.Module,
        tokenizer: Callable,
        class_names: Sequence[str],
        n_ctx: int = 16,
        text_path: str = "shared_prefix",
    ):
        super().__init__()
        if text_path not in TEXT_PATHS:
            raise ValueError(f"text_path '{text_path}' is not known; use one of {', '.join(TEXT_PATHS)}")
        self.n_ctx, self.text_path = n_ctx, text_path
        self.text = clip_model  # frozen; its weights are never saved with the prompt
        self.text.requires_grad_(False)
        tokens = tokenizer([" ".join(["X"] * n_ctx) + f" {name}" for name in class_names])  # (C, 77)
        eot = tokens.argmax(dim=-1)  # the end token has the largest id
        if int(eot.min()) <= n_ctx + 1:  # the tokenizer cut the class name (or more) off: the prompt does not fit
            raise ValueError(
                f"{n_ctx} context vectors and the class name '{class_names[int(eot.argmin())]}' do not "
                f"fit in the text tower's {tokens.shape[1]} tokens; lower the recipe's n_ctx"
            )
        length = tokens.shape[1] if text_path == "full" else int(eot.max()) + 1  # cut after the longest prompt
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokens[:, :length])  # (C, L, W)
        self.register_buffer("eot", eot, persistent=False)
        self.register_buffer("prefix", embedding[:, :1], persistent=False)  # start token
        self.register_buffer("suffix", embedding[:, 1 + n_ctx :], persistent=False)  # class, end, padding
        self._plan_suffixes(eot - n_ctx)  # suffix positions per class: name tokens and end token
        self.ctx = nn.Parameter(torch.randn(n_ctx, embedding.shape[-1]) * 0.02)  # float32 in every tower dtype

    @property
    def tower_dtype(self) -> torch.dtype:
        """The frozen text tower's dtype (fp16 for a CLIP loaded in fp16 on CUDA, ``air_core.models.clip``)."""
        return self.text.transformer.get_cast_dtype()

    def _embed(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Token embeddings plus positional embeddings, in the tower's dtype.

        As menghini's CustomTextEncoder (2094fa5 models/clip_encoders.py:67-71): the float32 embeddings,
        context included, are cast to the tower's dtype, then the cast positional embedding is added. The
        context stays a float32 parameter, its gradient coming back through the cast.
        """
        return tokens.to(self.tower_dtype) + positions.to(self.tower_dtype)

    def _plan_suffixes(self, lengths: torch.Tensor) -> None:
        """Where each class's suffix tokens lie: packed class by class (T rows), and padded (C, S) for attention."""
        valid = torch.arange(int(lengths.max())) < lengths[:, None]  # (C, S) real suffix positions
        rows, cols = valid.nonzero(as_tuple=True)  # (T,) class and position of each packed token
        packed = torch.cumsum(valid.flatten(), 0).view_as(valid) - 1  # (C, S) packed row; padding repeats the end
        self.register_buffer("token_rows", rows, persistent=False)
        self.register_buffer("token_cols", cols, persistent=False)
        self.register_buffer("padded_rows", packed, persistent=False)
        self.register_buffer("packed_rows", valid.flatten().nonzero().squeeze(1), persistent=False)  # (T,) in C*S
        self.register_buffer("token_ends", torch.cumsum(lengths, 0) - 1, persistent=False)  # (C,) end tokens

    def train(self, mode: bool = True) -> TextPromptLearner:
        super().train(mode)
        self.text.eval()  # frozen encoder: no dropout, whatever the wrapper does
        return self

    def forward(self) -> torch.Tensor:
        """L2-normalised class text features (C, D)."""
        x = self._shared_prefix() if self.text_path == "shared_prefix" else self._whole_sequences()  # (C, W)
        proj = self.text.text_projection
        x = proj(x) if isinstance(proj, nn.Linear) else x @ proj  # (C, D)
        return F.normalize(x.float(), dim=-1)  # logits and loss in float32 in every tower dtype

    def _whole_sequences(self) -> torch.Tensor:
        """End-token features (C, W), every class's whole (cut or 77-position) sequence through the tower."""
        clip = self.text
        n_classes = self.prefix.shape[0]
        x = torch.cat([self.prefix, self.ctx.expand(n_classes, -1, -1), self.suffix], dim=1)  # (C, L, W)
        length = x.shape[1]
        x = self._embed(x, clip.positional_embedding[:length])
        x = clip.transformer(x, attn_mask=clip.attn_mask[:length, :length].to(x.dtype))
        x = clip.ln_final(x)  # (C, L, W)
        return x[torch.arange(n_classes, device=x.device), self.eot]  # (C, W) end-token feature

    def _shared_prefix(self) -> torch.Tensor:
        """End-token features (C, W): the prefix once, then every class's suffix tokens, packed."""
        clip = self.text
        n_prefix = 1 + self.n_ctx
        pos = clip.positional_embedding
        prefix = self._embed(torch.cat([self.prefix[:1, 0], self.ctx]), pos[:n_prefix])  # (P, W)
        suffix = self._embed(self.suffix[self.token_rows, self.token_cols], pos[n_prefix + self.token_cols])  # (T, W)
        x = torch.cat([prefix, suffix])  # (P + T, W): the prefix, then every class's suffix tokens
        # Suffix position i sees the prefix and suffix positions <= i; a padded position is seen only by
        # padded ones, whose outputs are dropped, so padding changes neither values nor gradients.
        longest = self.padded_rows.shape[1]
        mask = torch.ones(longest, n_prefix + longest, dtype=torch.bool, device=x.device).tril(n_prefix)
        for block in clip.transformer.resblocks:
            x = shared_prefix_block(block, x, n_prefix, self.padded_rows, self.packed_rows, mask)
        return clip.ln_final(x[n_prefix + self.token_ends])  # (C, W) end tokens

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
            raise ValueError(
                f"prompt file holds { ({k: tuple(v.shape) for k, v in state.items()}) }, "
                f"expected ctx of shape {tuple(self.ctx.shape)}: was it trained with another "
                "CLIP or n_ctx?"
            )
        with torch.no_grad():
            self.ctx.copy_(state["ctx"])


def shared_prefix_block(
    block: nn.Module,
    x: torch.Tensor,
    n_prefix: int,
    padded_rows: torch.Tensor,
    packed_rows: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """One of open_clip's residual attention blocks over the shared prefix and the packed class suffixes.

    Works on open_clip's ResidualAttentionBlock (nn.MultiheadAttention) and
    CustomResidualAttentionBlock (its own Attention); it calls their sub-modules, not their
    ``forward``, so the layout is always (tokens, width), whatever the tower's ``batch_first``.
    Position-wise layers run over all P + T tokens at once; attention keeps each class to itself.

    Args:
        x: (P + T, W) hidden states of [SOT] and the context (P), then of every class's suffix
            tokens, packed class by class (T).
        padded_rows: (C, S) suffix row (in T) of each class's suffix position; padding repeats one.
        packed_rows: (T,) position of each suffix token in the padded layout, flattened (C * S).
        mask: (S, P + S) which keys (prefix, then suffix) each padded suffix position may attend to.
    """
    attn = block.attn
    weight, bias, heads = _in_projection(attn)
    qkv = F.linear(block.ln_1(x), weight, bias)  # (P + T, 3W)
    q_p, k_p, v_p = _split_heads(qkv[:n_prefix], heads)  # 3 x (H, P, hd)
    out_p = _attend(attn, q_p, k_p, v_p, None).transpose(0, 1).flatten(1)  # (P, W): the prefix sees only itself
    padded = qkv[n_prefix:][padded_rows]  # (C, S, 3W)
    q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in padded.chunk(3, dim=-1))  # (C, H, S, hd)
    n_classes = q.shape[0]
    k = torch.cat([k_p.expand(n_classes, -1, -1, -1), k], dim=2)  # (C, H, P + S, hd)
    v = torch.cat([v_p.expand(n_classes, -1, -1, -1), v], dim=2)
    out_s = _attend(attn, q, k, v, mask).transpose(1, 2).flatten(2).flatten(0, 1)[packed_rows]  # (T, W)
    out = attn.out_proj(getattr(attn, "ln_inner", nn.Identity())(torch.cat([out_p, out_s])))  # (P + T, W)
    x = x + block.ls_1(getattr(block, "ln_attn", nn.Identity())(out))  # ln_attn: CustomResidualAttentionBlock's
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def _in_projection(attn: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """The packed q/k/v projection and head count of nn.MultiheadAttention or open_clip's Attention."""
    unusual = (
        getattr(attn, "logit_scale", None) is not None  # open_clip's scaled cosine attention
        or isinstance(attn, nn.MultiheadAttention)
        and (not attn._qkv_same_embed_dim or attn.bias_k is not None or attn.add_zero_attn)
    )
    if unusual:
        raise ValueError(
            "the shared-prefix text path needs dot-product self-attention with one packed "
            "in_proj_weight; use TextPromptLearner(..., text_path='cut') for this text tower"
        )
    return attn.in_proj_weight, attn.in_proj_bias, attn.num_heads


def _split_heads(qkv: torch.Tensor, heads: int) -> tuple[torch.Tensor, ...]:
    """(L, 3W) packed projections -> q, k, v of shape (H, L, W / H)."""
    return tuple(t.unflatten(-1, (heads, -1)).transpose(0, 1) for t in qkv.chunk(3, dim=-1))


def _attend(
    attn: nn.Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Masked attention (mask True = may attend; None = causal) with open_clip Attention's options, if any."""
    q, k = getattr(attn, "ln_q", nn.Identity())(q), getattr(attn, "ln_k", nn.Identity())(k)  # open_clip's qk_norm
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)  # scale 1/sqrt(hd)
    head_scale = getattr(attn, "head_scale", None)
    return out * head_scale if head_scale is not None else out
