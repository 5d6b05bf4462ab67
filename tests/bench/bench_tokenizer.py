"""Tokenizer throughput: ours against tiktoken and Hugging Face tokenizers, then prepare's.

The text is data/sample/tinystories/TinyStories-train-sample.txt repeated to about --mb MB (10^6
bytes): its stories, split at `<|endoftext|>` and stripped, written back in TinyStories' layout
(each story, then an `<|endoftext|>` line). Single-thread encode throughput, best and median of 3
runs, in MB of stripped stories per second, for
- ours: `bench_tokenizer --text FILE`, which prints `ours: <MB/s> MB/s <tokens> tokens`;
- tiktoken's gpt2 encoding, encode_ordinary per story;
- Hugging Face tokenizers, a byte-level BPE from encoder.json and vocab.bpe, encode per story.
Each story counts its tokens plus one (the 50256 before it), and every tokenizer, prepare
included, must give the same total: the one thing this asserts. Then prepare on that file with
--threads 1 and 2 (best and median of 3 runs: MB/s of the input file's bytes by wall time, so with
the vocabulary load, and as prepare reports it, from reading to the renamed file; the child's
peak RSS), and with --threads 1 and 2 on about 200 MB (where the
fixed costs matter less; the memory figure; --skip-200mb leaves it out). Last, the memory bound on
pathological text: prepare --threads 2 on one story of --punctuation-mb MB (50) of
'!@#$%^&*()' repeated, one pre-tokenizer piece without a split point (its peak RSS, which grew
with the piece before such pieces were merged in 64 KiB chunks; 0 leaves it out). Generated files
are deleted unless --keep.

Usage: bench_tokenizer.py --bench BENCH_TOKENIZER --prepare PREPARE --data-dir DIR [--mb 20]
       [--workdir DIR] [--skip-200mb] [--punctuation-mb 50] [--keep]
       (exit 0 done, 1 a tool failed or counts differ)
"""

import os

# Before tokenizers is imported: one thread, as for the others.
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

RUNS = 3


def stories_of(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").split("<|endoftext|>") if s.strip()]


def write_repeated(path: Path, stories: list[str], repeats: int) -> None:
    block = "".join(f"{s}\n<|endoftext|>\n" for s in stories).encode()
    with path.open("wb") as f:
        for _ in range(repeats):
            f.write(block)


def timed(encode, stories: list[str]) -> tuple[float, int]:
    """Seconds for one pass over the stories, and the tokens with one 50256 per story."""
    start = time.perf_counter()
    tokens = sum(len(encode(s)) for s in stories)
    return time.perf_counter() - start, tokens + len(stories)


def run_measured(cmd: list, log: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit status of one child process.

    The peak is the child's VmHWM, polled every 5 ms: its rusage ru_maxrss would count the pages of
    this Python process that the child shared between fork and exec."""
    peak_kib = 0
    with log.open("wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT)
        while child.poll() is None:
            try:
                status = Path(f"/proc/{child.pid}/status").read_text()
                peak_kib = max(peak_kib, int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)))
            except (OSError, AttributeError):
                pass  # exiting: no memory map left to read
            time.sleep(0.005)
        seconds = time.perf_counter() - start
    return seconds, peak_kib / 1024, child.returncode


def llmc_token_count(path: Path) -> int:
    magic, version, count = struct.unpack("<3i", path.read_bytes()[:12])
    return count if (magic, version) == (20240520, 1) else -1


def rate_line(name: str, rates: list[float], tokens: int) -> str:
    return f"{name:<28} best {max(rates):7.2f} MB/s  median {statistics.median(rates):7.2f} MB/s  {tokens:,} tokens"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", type=Path, required=True, help="our bench_tokenizer program")
    ap.add_argument("--prepare", type=Path, required=True, help="the prepare program")
    ap.add_argument("--data-dir", type=Path, required=True, help="the sample data (tinystories/, gpt2/)")
    ap.add_argument("--mb", type=float, default=20, help="size of the encode text in MB")
    ap.add_argument("--workdir", type=Path, help="for the generated files (default: a temporary folder)")
    ap.add_argument("--skip-200mb", action="store_true", help="leave out the 200 MB prepare run")
    ap.add_argument("--punctuation-mb", type=float, default=50,
                    help="MB of the one-story punctuation file for the memory figure (0: none)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    from offline_tiktoken import gpt2_encoding
    from tokenizers import Tokenizer, models, pre_tokenizers

    gpt2 = args.data_dir / "gpt2"
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-tokenizer."))
    workdir.mkdir(parents=True, exist_ok=True)
    sample = stories_of(args.data_dir / "tinystories" / "TinyStories-train-sample.txt")
    sample_bytes = sum(len(s.encode()) for s in sample)
    repeats = max(1, round(args.mb * 1e6 / sample_bytes))
    stories = sample * repeats
    text_bytes = sample_bytes * repeats
    text = workdir / "bench-text.txt"
    write_repeated(text, sample, repeats)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"text: the train sample x{repeats}: {len(stories):,} stories, {text_bytes / 1e6:.1f} MB stripped, "
          f"{text.stat().st_size / 1e6:.1f} MB as a file; CPU: {cpu}, {os.cpu_count()} cores")

    failed = False
    rates, counts = {}, {}
    # Ours: the program reads the file itself and times its own encoding.
    if args.bench.is_file():
        ours = []
        for _ in range(RUNS):
            p = subprocess.run([str(args.bench), "--text", str(text)], capture_output=True, text=True)
            match = re.search(r"^ours: ([0-9.]+) MB/s (\d+) tokens", p.stdout, re.MULTILINE)
            if p.returncode != 0 or not match:
                print(f"ours: FAILED: exit {p.returncode}, output {p.stdout.strip()!r} {p.stderr.strip()!r}")
                failed = True
                break
            ours.append(float(match[1]))
            counts["ours"] = int(match[2])
        else:
            rates["ours"] = ours
    else:
        print(f"ours: skipped (no {args.bench})")

    enc = gpt2_encoding(gpt2)
    hf = Tokenizer(models.BPE.from_file(str(gpt2 / "encoder.json"), str(gpt2 / "vocab.bpe")))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    for name, encode in (("tiktoken", enc.encode_ordinary), ("HF tokenizers", lambda s: hf.encode(s).ids)):
        runs = [timed(encode, stories) for _ in range(RUNS)]
        rates[name] = [text_bytes / 1e6 / seconds for seconds, _ in runs]
        counts[name] = runs[0][1]

    out = workdir / "bench-tokens.bin"

    def run_prepare(path: Path, threads: int, label: str) -> tuple[float, float, float] | None:
        """MB/s by wall time, peak RSS in MB and MB/s as prepare reports it; None if it failed."""
        seconds, rss, rc = run_measured([args.prepare, "--input", path, "--output", out, "--threads", threads],
                                        workdir / "prepare.log")
        log = (workdir / "prepare.log").read_text()
        if rc != 0:
            print(f"{label}: FAILED (exit {rc}): {log}")
            return None
        own = re.search(r"\(([0-9.]+) MB/s, ", log)
        return path.stat().st_size / 1e6 / seconds, rss, float(own.group(1)) if own else 0.0

    # prepare: wall time of the whole program on the file, per thread count.
    prepare = {}
    for threads in (1, 2):
        figures = [run_prepare(text, threads, f"prepare --threads {threads}") for _ in range(RUNS)]
        if None in figures:
            failed = True
            continue
        prepare[threads] = figures
        counts[f"prepare --threads {threads}"] = llmc_token_count(out)

    big = {}  # threads -> (MB, MB/s by wall time, peak RSS MB, MB/s as prepare reports it)
    if not args.skip_200mb:
        big_repeats = max(1, round(200e6 / (text.stat().st_size / repeats)))
        big_file = workdir / "bench-200mb.txt"
        write_repeated(big_file, sample, big_repeats)
        for threads in (1, 2):
            figures = run_prepare(big_file, threads, f"prepare --threads {threads}, 200 MB")
            if figures is None:
                failed = True
                break
            big[threads] = (big_file.stat().st_size / 1e6, *figures)
            tokens, want = llmc_token_count(out), counts["tiktoken"] // repeats * big_repeats
            if tokens != want:
                print(f"prepare 200 MB: {tokens:,} tokens, but tiktoken gives {want:,} for that text")
                failed = True

    punctuation = None  # (MB, MB/s by wall time, peak RSS MB)
    if args.punctuation_mb > 0:
        punctuation_file = workdir / "bench-punctuation.txt"
        punctuation_file.write_text("!@#$%^&*()" * round(args.punctuation_mb * 1e5))
        figures = run_prepare(punctuation_file, 2, "prepare on one punctuation story")
        if figures is None:
            failed = True
        else:
            punctuation = (punctuation_file.stat().st_size / 1e6, figures[0], figures[1])

    print()
    for name, r in rates.items():
        print(rate_line(name, r, counts[name]))
    for threads, figures in prepare.items():
        mbs, own = [f[0] for f in figures], [f[2] for f in figures]
        print(f"{f'prepare --threads {threads}':<28} best {max(mbs):7.2f} MB/s  "
              f"median {statistics.median(mbs):7.2f} MB/s  peak RSS {max(f[1] for f in figures):.0f} MB  "
              f"(as prepare reports it, without the vocabulary load: best {max(own):.2f}, "
              f"median {statistics.median(own):.2f} MB/s)")
    for threads, (size, wall, rss, own) in big.items():
        print(f"{f'prepare --threads {threads}, 200 MB':<28} {wall:7.2f} MB/s on {size:.0f} MB  peak RSS {rss:.0f} MB  "
              f"(as prepare reports it: {own:.2f} MB/s)")

    if punctuation:
        size, wall, rss = punctuation
        print(f"{'prepare --threads 2, one story of punctuation':<28} {wall:7.2f} MB/s on {size:.0f} MB  "
              f"peak RSS {rss:.0f} MB ({rss / size:.2f} MB per MB of the story, fixed costs included)")

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}" if a and b else "n/a"

    best = {name: max(r) for name, r in rates.items()}
    prep = {threads: max(f[0] for f in figures) for threads, figures in prepare.items()}
    prep_own = {threads: max(f[2] for f in figures) for threads, figures in prepare.items()}
    print(f"ratios (best): ours/tiktoken {ratio(best.get('ours'), best['tiktoken'])}, "
          f"ours/HF {ratio(best.get('ours'), best['HF tokenizers'])}, "
          f"prepare 2 threads/1 thread {ratio(prep.get(2), prep.get(1))} by wall time, "
          f"{ratio(prep_own.get(2), prep_own.get(1))} as prepare reports it; on 200 MB "
          f"{ratio(big.get(2, (0, 0))[1], big.get(1, (0, 0))[1])} by wall time")

    totals = set(counts.values())
    print("token counts: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()) +
          (": all equal" if len(totals) == 1 else ": DIFFERENT"))
    failed |= len(totals) != 1

    if not args.keep:
        for path in workdir.glob("bench-*"):
            path.unlink()
        (workdir / "prepare.log").unlink(missing_ok=True)
        if not args.workdir:
            shutil.rmtree(workdir)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
