"""The shipped token files are what the reference tokenizer makes of the shipped text.

For each split of data/sample/tinystories, the .txt is cut into stories at `<|endoftext|>`
lines, each story is stripped and encoded with tiktoken's `gpt2` encoding (`encode_ordinary`),
token 50256 goes before each story, and the result must equal the .bin token for token (llm.c
layout: 256 int32 header with magic 20240520, version 1 and the count, then uint16 tokens).

Usage: check_sample_tokens.py DATA_DIR   ($GPT_DATA_DIR, when set, wins; exit 0 pass, 1 mismatch,
77 tiktoken missing)
"""

import os
import struct
import sys
from pathlib import Path

EOT = 50256


def read_llmc_tokens(path: Path) -> list[int]:
    raw = path.read_bytes()
    magic, version, count = struct.unpack_from("<3i", raw, 0)
    if (magic, version) != (20240520, 1) or len(raw) != 1024 + 2 * count:
        raise ValueError(f"{path}: not an llm.c token file (magic {magic}, version {version}, "
                         f"{count} tokens, {len(raw)} bytes)")
    return list(struct.unpack_from(f"<{count}H", raw, 1024))


def encode_stories(enc, text: str) -> list[int]:
    tokens = []
    for story in text.split("<|endoftext|>"):
        story = story.strip()
        if story:
            tokens.append(EOT)
            tokens.extend(enc.encode_ordinary(story))
    return tokens


def main() -> int:
    data_dir = Path(os.environ.get("GPT_DATA_DIR") or sys.argv[1])
    try:
        import tiktoken  # noqa: F401
    except ImportError as e:
        print(f"skipped: tiktoken is not importable ({e}); tests/run.sh installs it into build/venv")
        return 77
    sys.path.insert(0, str(Path(__file__).parent))
    from offline_tiktoken import gpt2_encoding

    enc = gpt2_encoding(data_dir / "gpt2")
    failed = False
    for split in ("train", "valid"):
        stem = data_dir / "tinystories" / f"TinyStories-{split}-sample"
        want = read_llmc_tokens(stem.with_suffix(".bin"))
        got = encode_stories(enc, stem.with_suffix(".txt").read_text(encoding="utf-8"))
        if got == want:
            print(f"{split}: {len(want)} tokens, {want.count(EOT)} stories, identical to tiktoken")
            continue
        failed = True
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        print(f"{split}: MISMATCH: tiktoken gives {len(got)} tokens, the .bin holds {len(want)}; "
              f"first difference at token {first}: tiktoken {got[first:first + 8]}, "
              f".bin {want[first:first + 8]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
