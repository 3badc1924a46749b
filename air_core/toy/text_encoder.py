"""The toy CLIP's text tower as a transformers ``CLIPTextModel``: the toy SD's frozen text encoder.

Real Stable Diffusion conditions on a frozen CLIP text encoder; the toy SD does the same with
the toy CLIP's. open_clip and transformers lay the same network out differently: open_clip packs
q, k and v into one ``in_proj`` of ``nn.MultiheadAttention`` and keeps the positional embedding
as a bare parameter. ``CLIPTextModel.last_hidden_state`` (after ``final_layer_norm``) then equals
open_clip's ``ln_final(transformer(token_embedding + positional_embedding))`` on the same tokens.
"""

from __future__ import annotations

import open_clip
import torch
from open_clip.transformer import QuickGELU
from transformers import CLIPTextConfig, CLIPTextModel

BOS, EOS = 49406, 49407  # <|startoftext|>, <|endoftext|> (also SD's padding token)


def text_config(model: open_clip.CLIP) -> CLIPTextConfig:
    """The CLIPTextConfig of ``model``'s text tower; hidden_act follows open_clip's activation."""
    blocks = model.transformer.resblocks
    width = model.token_embedding.weight.shape[1]
    act = "quick_gelu" if isinstance(blocks[0].mlp.gelu, QuickGELU) else "gelu"
    return CLIPTextConfig(
        vocab_size=model.token_embedding.weight.shape[0],
        hidden_size=width,
        intermediate_size=blocks[0].mlp.c_fc.out_features,
        num_hidden_layers=len(blocks),
        num_attention_heads=blocks[0].attn.num_heads,
        max_position_embeddings=model.positional_embedding.shape[0],
        hidden_act=act,
        layer_norm_eps=model.ln_final.eps,
        projection_dim=model.text_projection.shape[1],
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=EOS,
    )


def text_state_dict(model: open_clip.CLIP) -> dict[str, torch.Tensor]:
    """open_clip's text-tower weights under CLIPTextModel's names."""
    state = {
        "embeddings.token_embedding.weight": model.token_embedding.weight,
        "embeddings.position_embedding.weight": model.positional_embedding,
        "final_layer_norm.weight": model.ln_final.weight,
        "final_layer_norm.bias": model.ln_final.bias,
    }
    for i, block in enumerate(model.transformer.resblocks):
        hf = f"encoder.layers.{i}."
        q, k, v = block.attn.in_proj_weight.chunk(3, dim=0)  # (3W, W) -> 3 x (W, W)
        qb, kb, vb = block.attn.in_proj_bias.chunk(3, dim=0)
        for name, w, b in (
            ("q_proj", q, qb),
            ("k_proj", k, kb),
            ("v_proj", v, vb),
            ("out_proj", block.attn.out_proj.weight, block.attn.out_proj.bias),
        ):
            state[f"{hf}self_attn.{name}.weight"], state[f"{hf}self_attn.{name}.bias"] = w, b
        for hf_name, oc in (
            ("layer_norm1", block.ln_1),
            ("layer_norm2", block.ln_2),
            ("mlp.fc1", block.mlp.c_fc),
            ("mlp.fc2", block.mlp.c_proj),
        ):
            state[f"{hf}{hf_name}.weight"], state[f"{hf}{hf_name}.bias"] = oc.weight, oc.bias
    return {k: v.detach().clone().contiguous() for k, v in state.items()}


def to_clip_text_model(model: open_clip.CLIP) -> CLIPTextModel:
    """A frozen CLIPTextModel with ``model``'s text-tower weights (loaded strictly), in eval mode."""
    encoder = CLIPTextModel(text_config(model))
    encoder.load_state_dict(text_state_dict(model), strict=True)
    return encoder.eval().requires_grad_(False)


@torch.no_grad()
def open_clip_hidden_states(model: open_clip.CLIP, tokens: torch.Tensor) -> torch.Tensor:
    """(B, L, W) per-token outputs of open_clip's text transformer after ``ln_final`` (what SD attends to)."""
    length = tokens.shape[1]
    x = model.token_embedding(tokens) + model.positional_embedding[:length]  # (B, L, W)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    return model.ln_final(x)
