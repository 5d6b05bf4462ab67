"""tiktoken's `gpt2` encoding built from the repository's vocabulary files, without a network.

tiktoken downloads encoder.json and vocab.bpe on first use; here its download function is
replaced by one that serves the files of data/sample/gpt2 by name and refuses anything else.
tiktoken still checks each file's sha256 against the hash it expects, so this only works with
files byte-identical to OpenAI's.
"""

import os
import tempfile
from pathlib import Path


def gpt2_encoding(gpt2_dir: Path):
    import tiktoken
    import tiktoken.load

    local = {name: gpt2_dir / name for name in ("encoder.json", "vocab.bpe")}

    def read_local(blobpath: str) -> bytes:
        name = blobpath.rsplit("/", 1)[-1]
        if name not in local:
            raise RuntimeError(f"offline: tiktoken asked for {blobpath}, which is not in {gpt2_dir}")
        return local[name].read_bytes()

    tiktoken.load.read_file = read_local
    # An empty cache of our own: tiktoken checks the hash only on a cache miss (and an empty
    # TIKTOKEN_CACHE_DIR would skip the check altogether).
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TIKTOKEN_CACHE_DIR"] = cache
        return tiktoken.get_encoding("gpt2")
