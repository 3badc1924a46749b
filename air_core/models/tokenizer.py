"""The CLIP BPE tokenizer as a transformers CLIPTokenizer, built offline from open_clip's file.

open_clip's wheel ships ``bpe_simple_vocab_16e6.txt.gz``; the CLIP vocabulary (49408
entries) and merges derive from it exactly as in OpenAI's SimpleTokenizer, so this
tokenizer matches the hub's ``openai/clip-vit-large-patch14`` one without a download.
"""

from __future__ import annotations

import functools
import gzip

from open_clip.tokenizer import bytes_to_unicode, default_bpe
from transformers import CLIPTokenizer

N_MERGES = 49152 - 256 - 2  # the merges OpenAI's tokenizer uses from the file


@functools.lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    lines = gzip.open(default_bpe()).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : N_MERGES + 1]]
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(vocab)}, merges


def build_clip_tokenizer(model_max_length: int = 77) -> CLIPTokenizer:
    """A CLIPTokenizer equal to SD's, padding with <|endoftext|> (49407)."""
    vocab, merges = clip_vocab_and_merges()
    return CLIPTokenizer(
        vocab=dict(vocab),
        merges=list(merges),
        model_max_length=model_max_length,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
